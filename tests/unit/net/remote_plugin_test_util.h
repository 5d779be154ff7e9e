// A libuv loop for remote plugin tests: runs until a condition holds or a deadline passes,
// and drains (child reaped, handles closed) before it is closed.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <thread>

#include "core/uv.h"

namespace matchlock::net::policy::testing {

class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    drain();
    uv::close_loop(&loop_);
  }
  uv_loop_t* get() { return &loop_; }

  bool run_until(const std::function<bool()>& done, int timeout_ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    uv::Timer tick(&loop_);
    tick.start(
        5, [] {}, 5);  // wakes the loop so the deadline is checked
    while (!done() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    return done();
  }

  // Runs until nothing is left to do (bounded): close callbacks, child exits.
  void drain(int timeout_ms = 3000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (uv_loop_alive(&loop_) && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop_, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

 private:
  uv_loop_t loop_{};
};

}  // namespace matchlock::net::policy::testing
