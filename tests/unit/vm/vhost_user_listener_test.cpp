// The NIC's vhost-user socket: an abstract name, and only QEMU's pid gets through.
#include "vm/vhost_user_listener.h"

#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>

using namespace matchlock;
using namespace matchlock::vm;

namespace {

UniqueFd connect_to(const std::string& name) {
  UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  REQUIRE(s.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  REQUIRE(::connect(s.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  return s;
}

void pump(uv_loop_t* loop) {
  for (int i = 0; i < 20; ++i) uv_run(loop, UV_RUN_NOWAIT);
}

}  // namespace

TEST_CASE("vhost_user_listener_names_are_random_and_abstract", "[vm]") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    auto a = VhostUserListener::listen(&loop);
    auto b = VhostUserListener::listen(&loop);
    REQUIRE(a.ok());
    REQUIRE(b.ok());
    CHECK(a.value()->name() != b.value()->name());
    CHECK(a.value()->name().rfind("matchlock-vhost-net-", 0) == 0);
    CHECK(a.value()->name().find('/') == std::string::npos);  // no file anywhere
  }
  pump(&loop);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("vhost_user_listener_keeps_only_a_connection_from_the_expected_pid", "[vm]") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    auto l = VhostUserListener::listen(&loop);
    REQUIRE(l.ok());
    auto& listener = *l.value();
    UniqueFd got;
    auto keep = [&](UniqueFd fd) { got = std::move(fd); };
    // Someone else first: this process is not the pid expected, so it is turned away.
    listener.accept_from(::getpid() + 100000, keep);
    UniqueFd stranger = connect_to(listener.name());
    pump(&loop);
    CHECK_FALSE(got.valid());
    char c;
    CHECK(::recv(stranger.get(), &c, 1, 0) == 0);  // closed on it
    // The expected pid connects: kept, and handed over once.
    listener.accept_from(::getpid(), keep);
    UniqueFd qemu = connect_to(listener.name());
    pump(&loop);
    REQUIRE(got.valid());
    CHECK(::send(got.get(), "x", 1, MSG_NOSIGNAL) == 1);
    CHECK(::recv(qemu.get(), &c, 1, 0) == 1);
  }
  pump(&loop);
  CHECK(uv_loop_close(&loop) == 0);
}
