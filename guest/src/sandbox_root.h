// Leaves the initramfs for the sandbox's root: the overlay of the image ("base" disk, read-only)
// and the sandbox's own changes ("upper" disk). Runs at boot, before HELLO: a boot saved then is
// restored for many sandboxes, each with its own copy of the upper disk as it was at the save.
#pragma once

#include "core/result.h"
#include "disks.h"
#include "step_clock.h"

namespace matchlock::guest_agent {

// Mounts the overlay root, switches to it, mounts /proc, /sys, /dev... in it and sets PATH.
// Files opened before (the modules directory) stay reachable through /proc/self/fd. Marks each
// step on `clock`.
Status enter_sandbox_root(const SandboxDisks& disks, StepClock& clock);

}  // namespace matchlock::guest_agent
