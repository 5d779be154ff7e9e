// Ending the guest: powering off is how the host learns we are done (QEMU exits).
#pragma once

#include <cstdint>
#include <string_view>

namespace matchlock::guest_agent {

[[noreturn]] void power_off();

// Prints "matchlock-guest: FATAL: <reason>" on the console and powers off.
[[noreturn]] void fatal(std::string_view reason);

// SHUTDOWN: SIGTERM everything, reap for up to grace_ms, SIGKILL the rest, sync, power off.
[[noreturn]] void graceful_shutdown(uint32_t grace_ms);

}  // namespace matchlock::guest_agent
