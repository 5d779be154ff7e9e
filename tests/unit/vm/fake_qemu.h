// A scripted QMP peer on a socketpair: the test plays QEMU, the QmpClient under test the engine.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>

#include "vm/qmp_client.h"

namespace matchlock::testing {

struct FakeQemu {
  uv_loop_t loop{};
  int fd = -1;
  std::unique_ptr<vm::QmpClient> client;
  std::optional<Status> ready;

  FakeQemu() {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    fd = sv[1];
    client =
        std::make_unique<vm::QmpClient>(&loop, UniqueFd(sv[0]), [this](Status st) { ready = st; });
  }
  ~FakeQemu() {
    client.reset();
    ::close(fd);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  void send(const std::string& s) { REQUIRE(::write(fd, s.data(), s.size()) == ssize_t(s.size())); }
  std::string received() {
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, size_t(n)) : "";
  }
  template <typename F>
  void run_until(F done) {
    for (int i = 0; i < 1000 && !done(); ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
};

}  // namespace matchlock::testing
