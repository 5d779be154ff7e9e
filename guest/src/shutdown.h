// Ending the guest: powering off is how the host learns we are done (QEMU exits).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vfs_mount.h"

namespace matchlock::guest_agent {

[[noreturn]] void power_off();

// Prints "matchlock-guest: FATAL: <reason>" on the console and powers off.
[[noreturn]] void fatal(std::string_view reason);

// SHUTDOWN: SIGTERM everything, reap for up to grace_ms, SIGKILL the rest, sync, power off.
// With a workspace mount, its relay (which ignores SIGTERM) keeps serving while the others
// stop, so they can still flush into the workspace; then the workspace is detached (a lazy
// unmount, which nothing can block) and the relay killed. The data disks mounted at
// `disk_mounts` are unmounted last, so what was written to them is on the host's image file
// with a clean journal before the VM powers off.
[[noreturn]] void graceful_shutdown(uint32_t grace_ms, const VfsMount* vfs = nullptr,
                                    const std::vector<std::string>& disk_mounts = {});

}  // namespace matchlock::guest_agent
