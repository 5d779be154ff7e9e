// The service over a socketpair: the test plays the guest's relay, writing raw FUSE bytes.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <optional>
#include <thread>

#include "vfs/fuse_test_client.h"
#include "vfs/vfs_service.h"

using namespace matchlock;
using namespace matchlock::vfs;
using namespace matchlock::vfs::test;

namespace {

struct Relay {
  uv_loop_t loop{};
  int guest_fd = -1;
  std::unique_ptr<VfsService> service;
  std::optional<Error> lost;
  std::string from_host;

  Relay() {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    guest_fd = sv[1];
    auto s = VfsService::start(&loop, UniqueFd(sv[0]), *MountTable::create({}), "/workspace",
                               nullptr, [this](const Error& e) { lost = e; });
    REQUIRE(s);
    service = std::move(*s);
  }
  ~Relay() {
    service.reset();
    ::close(guest_fd);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  void sends(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n =
          ::send(guest_fd, bytes.data() + off, bytes.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (errno == EAGAIN) {
        uv_run(&loop, UV_RUN_NOWAIT);
      } else {
        return;
      }
    }
  }
  void pump(int turns = 20) {
    static char buf[256 * 1024];
    for (int i = 0; i < turns; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      ssize_t n;
      while ((n = ::recv(guest_fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        from_host.append(buf, static_cast<size_t>(n));
      }
    }
  }
  // Complete replies received so far.
  std::vector<Reply> replies() {
    std::vector<Reply> out;
    while (from_host.size() >= sizeof(fuse_out_header)) {
      uint32_t len = 0;
      std::memcpy(&len, from_host.data(), 4);
      if (from_host.size() < len) break;
      out.push_back(parse_reply(from_host.substr(0, len)));
      from_host.erase(0, len);
    }
    return out;
  }
};

std::string init_request(uint64_t unique) {
  fuse_init_in in{};
  in.major = 7;
  in.minor = 31;
  in.flags = FUSE_BIG_WRITES | FUSE_MAX_PAGES;
  return fuse_request(FUSE_INIT, 0, bytes_of(in), unique);
}

}  // namespace

TEST_CASE("vfs_service_reassembles_messages_split_across_reads", "[vfs][vfs_service]") {
  Relay r;
  std::string init = init_request(1);
  r.sends(init.substr(0, 3));  // not even the length yet
  r.pump();
  r.sends(init.substr(3, 20));
  r.pump();
  CHECK(r.replies().empty());
  // The rest of INIT and a whole LOOKUP in one write.
  r.sends(init.substr(23) + fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("nothing"), 2));
  r.pump();
  auto got = r.replies();
  REQUIRE(got.size() == 2);
  CHECK(got[0].unique == 1);
  CHECK(got[0].error == 0);
  CHECK(got[1].unique == 2);
  CHECK(got[1].error == ENOENT);
  CHECK_FALSE(r.lost);
}

TEST_CASE("vfs_service_ends_the_channel_on_an_oversize_or_undersize_length", "[vfs][vfs_service]") {
  for (uint32_t len : {uint32_t(kMaxVfsMessage + 1), uint32_t(0xffffffff), uint32_t(8)}) {
    Relay r;
    r.sends(init_request(1));
    r.pump();
    std::string bad(sizeof(fuse_in_header), '\0');
    std::memcpy(bad.data(), &len, 4);
    r.sends(bad);
    r.pump();
    REQUIRE(r.lost);
    CHECK(r.lost->message.find("FUSE message") != std::string::npos);
  }
}

TEST_CASE("vfs_service_reports_the_guest_closing_the_port", "[vfs][vfs_service]") {
  Relay r;
  ::shutdown(r.guest_fd, SHUT_WR);
  r.pump();
  CHECK(r.lost);
}

TEST_CASE("vfs_service_answers_everything_when_the_guest_reads_replies_late",
          "[vfs][vfs_service]") {
  Relay r;
  r.sends(init_request(1));
  fuse_create_in cr{};
  cr.flags = O_RDWR | O_CREAT;
  cr.mode = S_IFREG | 0644;
  r.sends(fuse_request(FUSE_CREATE, FUSE_ROOT_ID, bytes_of(cr) + cstr("big"), 2));
  r.pump();
  auto first = r.replies();
  REQUIRE(first.size() == 2);
  REQUIRE(first[1].error == 0);
  fuse_open_out o{};
  std::memcpy(&o, first[1].body.data() + sizeof(fuse_entry_out), sizeof(o));
  uint64_t node = first[1].as<fuse_entry_out>().nodeid;
  fuse_write_in w{};
  w.fh = o.fh;
  w.size = kMaxWrite;
  r.sends(fuse_request(FUSE_WRITE, node, bytes_of(w) + std::string(kMaxWrite, 'z'), 3));
  // Many 1 MiB reads while nothing reads the replies: the service must pause reading requests
  // rather than queue them all, and still answer every one once the guest reads again.
  constexpr int kReads = 24;
  std::string reads;
  for (int i = 0; i < kReads; ++i) {
    fuse_read_in rd{};
    rd.fh = o.fh;
    rd.size = kMaxWrite;
    reads += fuse_request(FUSE_READ, node, bytes_of(rd), 100 + i);
  }
  std::thread writer([&] {  // the socket fills up: write from another thread like a relay would
    size_t off = 0;
    while (off < reads.size()) {
      ssize_t n = ::send(r.guest_fd, reads.data() + off, reads.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<size_t>(n);
    }
  });
  for (int i = 0; i < 50; ++i) uv_run(&r.loop, UV_RUN_NOWAIT);  // nothing reads replies yet
  size_t got = 0;
  for (int i = 0; i < 2000 && got < kReads + 1; ++i) {
    r.pump(1);
    for (const Reply& rep : r.replies()) {
      CHECK(rep.error == 0);
      if (rep.unique >= 100) CHECK(rep.body.size() == kMaxWrite);
      ++got;
    }
  }
  writer.join();
  CHECK(got == kReads + 1);
  CHECK_FALSE(r.lost);
}
