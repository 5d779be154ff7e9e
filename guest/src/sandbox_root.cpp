#include "sandbox_root.h"

#include <stdlib.h>

#include "disks.h"
#include "init_mounts.h"

namespace matchlock::guest_agent {
namespace {

constexpr const char* kNewRoot = "/newroot";

}  // namespace

Status enter_sandbox_root(const SandboxDisks& disks, StepClock& clock) {
  MATCHLOCK_TRY(mount_overlay_root(disks, kNewRoot, clock));
  MATCHLOCK_TRY(switch_root(kNewRoot));
  clock.mark("switch root");
  MATCHLOCK_TRY(mount_root_filesystems());
  clock.mark("mount /proc, /sys, /dev, /tmp, /run");
  ::setenv("PATH", kDefaultPath, 1);
  return {};
}

}  // namespace matchlock::guest_agent
