// Ending the guest: powering off is how the host learns we are done (QEMU exits).
#pragma once

#include <cstdint>
#include <string_view>

#include "vfs_mount.h"

namespace matchlock::guest_agent {

[[noreturn]] void power_off();

// Prints "matchlock-guest: FATAL: <reason>" on the console and powers off.
[[noreturn]] void fatal(std::string_view reason);

// SHUTDOWN: SIGTERM everything, reap for up to grace_ms, SIGKILL the rest, sync, power off.
// With a workspace mount, its relay (which ignores SIGTERM) keeps serving while the others
// stop, so they can still flush into the workspace; then the workspace is detached (a lazy
// unmount, which nothing can block) and the relay killed.
[[noreturn]] void graceful_shutdown(uint32_t grace_ms, const VfsMount* vfs = nullptr);

}  // namespace matchlock::guest_agent
