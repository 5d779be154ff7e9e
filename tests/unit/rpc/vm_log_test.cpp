// The VM log of rpc `log` / `log_stream`: the cursor's chunking and restart rules alone, then
// the whole read and the follower on real files in a temporary directory.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/uv.h"
#include "rpc/log_stream.h"
#include "rpc/vm_log.h"
#include "temp_dir.h"

using matchlock::testing::TempDir;

using namespace matchlock;
using namespace matchlock::rpc;

namespace {

void append(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::app) << bytes;
}

}  // namespace

TEST_CASE("log_cursor_sends_files_in_order_in_bounded_chunks", "[rpc][vm_log]") {
  LogCursor c(2);
  std::vector<uint64_t> sizes = {70000, 10};
  std::vector<std::pair<size_t, size_t>> reads;  // file, length
  while (auto r = c.next(sizes, kLogChunkBytes)) {
    reads.emplace_back(r->file, r->length);
    c.advance(r->file, r->length);
  }
  CHECK(reads == std::vector<std::pair<size_t, size_t>>{
                     {0, 32768}, {0, 32768}, {0, 70000 - 65536}, {1, 10}});
  // Appended bytes of either file are sent from where it stopped.
  sizes = {70005, 10};
  auto r = c.next(sizes, kLogChunkBytes);
  REQUIRE(r);
  CHECK((r->file == 0 && r->offset == 70000 && r->length == 5));
}

TEST_CASE("log_cursor_restarts_a_file_that_shrank", "[rpc][vm_log]") {
  LogCursor c(1);
  c.advance(0, 100);
  CHECK_FALSE(c.next({100}, 10));
  auto r = c.next({40}, 1000);  // truncated and rewritten
  REQUIRE(r);
  CHECK((r->offset == 0 && r->length == 40));
}

TEST_CASE("read_vm_log_is_console_then_output_and_keeps_the_newest_bytes", "[rpc][vm_log]") {
  TempDir d;
  auto empty = read_vm_log(d.path, kMaxLogBytes);
  REQUIRE(empty.ok());
  CHECK(empty.value().empty());  // no files yet: an empty log, not an error
  append(d.path / "output.log", "entrypoint\n");
  append(d.path / "console.log", "boot\n");
  append(d.path / "engine.log", "not part of it\n");
  CHECK(read_vm_log(d.path, kMaxLogBytes).value() == "boot\nentrypoint\n");
  CHECK(read_vm_log(d.path, 6).value() == "point\n");
}

TEST_CASE("log_stream_sends_existing_then_appended_bytes", "[rpc][vm_log]") {
  TempDir d;
  const std::string existing(40000, 'a');
  append(d.path / "console.log", existing);
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::string> chunks;
  {
    auto stream = std::make_shared<LogStream>(
        &loop, d.path, 7, [&](std::string bytes, std::function<void()> written) {
          chunks.push_back(std::move(bytes));
          written();
        });
    REQUIRE(stream->start().ok());
    REQUIRE(chunks.size() == 2);
    CHECK(chunks[0].size() == kLogChunkBytes);
    CHECK(chunks[0] + chunks[1] == existing);

    // Woken by the fs event, with a deadline so a missing event fails instead of hanging.
    auto run_until = [&](size_t n) {
      uv::Timer deadline(&loop);
      bool expired = false;
      deadline.start(5000, [&] { expired = true; });
      while (chunks.size() < n && !expired) uv_run(&loop, UV_RUN_ONCE);
      REQUIRE(chunks.size() >= n);
    };
    append(d.path / "output.log", "appended");
    run_until(3);
    CHECK(chunks[2] == "appended");

    // A file rewritten shorter is sent again from its start.
    std::ofstream(d.path / "console.log", std::ios::binary | std::ios::trunc) << "new";
    run_until(4);
    CHECK(chunks.back() == "new");

    stream->stop();
    append(d.path / "console.log", "after stop");
    uv_run(&loop, UV_RUN_NOWAIT);
    CHECK(chunks.back() == "new");
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("log_stream_waits_for_the_output_before_the_next_chunk", "[rpc][vm_log]") {
  TempDir d;
  append(d.path / "console.log", std::string(3 * kLogChunkBytes, 'x'));
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::function<void()>> pending;
  {
    auto stream = std::make_shared<LogStream>(
        &loop, d.path, 7,
        [&](std::string, std::function<void()> written) { pending.push_back(written); });
    REQUIRE(stream->start().ok());
    CHECK(pending.size() == 1);  // a slow client holds back the reads
    pending[0]();
    CHECK(pending.size() == 2);
    stream->stop();
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
}
