// Shared by the harnesses that run engine objects on a libuv loop (guest_connection, vhost_user,
// guest_network, qmp_client).
#pragma once

#include <uv.h>

#include <csignal>
#include <cstdlib>

#include "fuzz_check.h"

namespace matchlock::fuzz {

// One event loop for the whole run: creating one per input cost more than the input itself.
inline uv_loop_t* shared_loop() {
  static uv_loop_t loop;
  static const bool ready = uv_loop_init(&loop) == 0;
  FUZZ_CHECK(ready);
  return &loop;
}

// Runs what is ready, then checks that the input's objects, now destroyed, left nothing on the
// loop for the next input.
inline void check_loop_empty() {
  uv_run(shared_loop(), UV_RUN_NOWAIT);
  FUZZ_CHECK(!uv_loop_alive(shared_loop()));
}

// Once per process, the settings the engine's own main has for code that writes to sockets:
// SIGPIPE ignored (a closed peer is an EPIPE); and warnings off, since most inputs make the
// engine warn about what it refuses.
inline void engine_process_settings() {
  static const bool done = [] {
    std::signal(SIGPIPE, SIG_IGN);
    ::setenv("MATCHLOCK_LOG", "error", 0);
    return true;
  }();
  (void)done;
}

}  // namespace matchlock::fuzz
