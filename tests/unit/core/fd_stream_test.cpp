// FdReader / FdWriter over the kinds of fd stdio can be: a pipe (libuv stream) and a regular
// file (thread-pool reads, blocking writes).
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <string>

#include "core/fd_stream.h"
#include "core/unique_fd.h"

using namespace matchlock;

namespace {

struct Loop {
  uv_loop_t loop{};
  Loop() { uv_loop_init(&loop); }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);  // let close callbacks run
    uv_loop_close(&loop);
  }
  void run() { uv_run(&loop, UV_RUN_DEFAULT); }
};

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    read = UniqueFd(fds[0]);
    write = UniqueFd(fds[1]);
  }
};

// The read end of a pipe holding `content` whose write end is closed; the caller's reader takes
// the fd (libuv closes a pipe fd above 2 with its handle).
int closed_pipe_holding(const std::string& content) {
  Pipe p;
  REQUIRE(::write(p.write.get(), content.data(), content.size()) == ssize_t(content.size()));
  return p.read.release();
}

// A regular file holding `content`, already unlinked.
UniqueFd temp_file(const std::string& content) {
  char path[] = "/tmp/fd_stream_test.XXXXXX";
  int fd = ::mkstemp(path);
  REQUIRE(fd >= 0);
  ::unlink(path);
  REQUIRE(::write(fd, content.data(), content.size()) == ssize_t(content.size()));
  REQUIRE(::lseek(fd, 0, SEEK_SET) == 0);
  return UniqueFd(fd);
}

std::string file_content(int fd) {
  std::string out(4096, '\0');
  ssize_t n = ::pread(fd, out.data(), out.size(), 0);
  out.resize(n > 0 ? size_t(n) : 0);
  return out;
}

}  // namespace

TEST_CASE("fd_reader_reads_a_pipe_until_its_writer_closes", "[core][fd_stream]") {
  Loop l;
  FdReader reader(&l.loop, closed_pipe_holding("hello"));
  std::string got;
  int ends = 0;
  reader.start([&](std::string_view b) { got += b; }, [&] { ++ends; });
  l.run();
  CHECK(got == "hello");
  CHECK(ends == 1);
}

TEST_CASE("fd_reader_reads_a_regular_file_on_the_thread_pool", "[core][fd_stream]") {
  Loop l;
  std::string content(200 * 1024, 'x');  // more than one read chunk
  content += "end";
  auto fd = temp_file(content);
  FdReader reader(&l.loop, fd.get());
  CHECK_FALSE(reader.is_tty());
  std::string got;
  int ends = 0;
  reader.start([&](std::string_view b) { got += b; }, [&] { ++ends; });
  l.run();
  CHECK(got == content);
  CHECK(ends == 1);
}

TEST_CASE("fd_reader_paused_reads_nothing_until_resumed", "[core][fd_stream]") {
  Loop l;
  FdReader reader(&l.loop, closed_pipe_holding("abc"));
  std::string got;
  bool ended = false;
  reader.start([&](std::string_view b) { got += b; }, [&] { ended = true; });
  reader.pause();
  l.run();
  CHECK(got.empty());
  CHECK_FALSE(ended);
  reader.resume();
  l.run();
  CHECK(got == "abc");
  CHECK(ended);
}

TEST_CASE("fd_reader_closed_in_its_data_callback_reports_nothing_more", "[core][fd_stream]") {
  Loop l;
  auto fd = temp_file(std::string(200 * 1024, 'y'));
  FdReader reader(&l.loop, fd.get());
  int chunks = 0;
  bool ended = false;
  reader.start(
      [&](std::string_view) {
        ++chunks;
        reader.close();
      },
      [&] { ended = true; });
  l.run();
  CHECK(chunks == 1);
  CHECK_FALSE(ended);
}

TEST_CASE("fd_writer_on_a_pipe_completes_writes_in_order_and_flushes", "[core][fd_stream]") {
  Loop l;
  Pipe p;
  std::string order;
  bool flushed = false;
  {
    FdWriter writer(&l.loop, p.write.release());  // libuv closes a pipe fd above 2
    writer.write("one ", [&](int st) { order += st == 0 ? "1" : "!"; });
    writer.write("two", [&](int st) { order += st == 0 ? "2" : "!"; });
    writer.flush([&] { flushed = true; });
    l.run();
  }
  CHECK(order == "12");
  CHECK(flushed);
  char buf[16] = {};
  CHECK(::read(p.read.get(), buf, sizeof buf) == 7);
  CHECK(std::string(buf) == "one two");
}

TEST_CASE("fd_writer_on_a_regular_file_writes_at_once", "[core][fd_stream]") {
  Loop l;
  auto fd = temp_file("");
  FdWriter writer(&l.loop, fd.get());
  int status = -1;
  writer.write("line\n", [&](int st) { status = st; });
  CHECK(status == 0);  // blocking: done before write returns
  bool flushed = false;
  writer.flush([&] { flushed = true; });
  CHECK(flushed);
  CHECK(file_content(fd.get()) == "line\n");
}

TEST_CASE("fd_writer_reports_a_broken_pipe_as_a_failed_write", "[core][fd_stream]") {
  Loop l;
  Pipe p;
  p.read.reset();
  auto old = ::signal(SIGPIPE, SIG_IGN);
  int status = 0;
  {
    FdWriter writer(&l.loop, p.write.release());  // libuv closes a pipe fd above 2
    writer.write("lost", [&](int st) { status = st; });
    l.run();
  }
  ::signal(SIGPIPE, old);
  CHECK(status == UV_EPIPE);
}
