// Applies the host's CONFIG message (hostname, hosts, resolv.conf, network, the sandbox CA) to
// the guest, once it runs in the sandbox's root. The fields needed before that (entropy, clock,
// restored) are boot_settings.h's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "disks.h"
#include "step_clock.h"

namespace matchlock::guest_agent {

// What the configuration asks of every exec afterwards.
struct AppliedConfig {
  // "KEY=VALUE" each exec gets unless its request sets KEY (the CA bundle variables).
  std::vector<std::string> exec_env_defaults;
  // Where to mount the VFS (CONFIG "workspace"); "" = no VFS. The agent mounts it (vfs_mount.h).
  std::string workspace;
  // Data disks to mount (CONFIG "disks"), before the workspace. The agent mounts them.
  std::vector<DataDisk> disks;
};

// Sets the wall clock (CONFIG "time_unix_ms").
Status set_clock(int64_t unix_ms);

// `payload` is the CONFIG JSON; any malformed field is an error, reported back as ERROR. Each
// part's time is marked on `clock` (READY carries them to the host's debug log).
Result<AppliedConfig> apply_config(std::string_view payload, StepClock& clock);

}  // namespace matchlock::guest_agent
