#include "sandbox_root.h"

#include <stdlib.h>

#include <chrono>

#include "disks.h"
#include "init_mounts.h"

namespace matchlock::guest_agent {
namespace {

// Both disks were seen before HELLO (or just re-probed): this only covers a late /dev node.
constexpr auto kDiskTimeout = std::chrono::seconds(10);
constexpr const char* kNewRoot = "/newroot";

}  // namespace

Status enter_sandbox_root() {
  auto base = wait_for_disk("base", kDiskTimeout);
  if (!base) return io_error("no disk with serial \"base\"");
  auto upper = wait_for_disk("upper", kDiskTimeout);
  if (!upper) return io_error("no disk with serial \"upper\"");
  MATCHLOCK_TRY(mount_overlay_root(*base, *upper, kNewRoot));
  MATCHLOCK_TRY(switch_root(kNewRoot));
  MATCHLOCK_TRY(mount_root_filesystems());
  ::setenv("PATH", kDefaultPath, 1);
  return {};
}

}  // namespace matchlock::guest_agent
