// VFS mounts of a sandbox (`run -v HOST:GUEST[:MODE]`, `--workspace`, rpc create `vfs`).
// The parsers validate everything before anything starts and name the offending value.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "vfs/hook_rules.h"

namespace matchlock::sandbox {

enum class MountMode {
  kOverlay,   // copy-on-write over the host path: the guest writes, the host never changes
  kHostFs,    // the host path itself, read-write
  kReadOnly,  // the host path itself, EROFS for every change
  kMemory,    // an empty in-memory tree (rpc only)
};
const char* mount_mode_name(MountMode mode);

struct MountSpec {
  std::string guest_path;  // absolute, normalised, equal to or beneath the workspace
  std::string host_path;   // absolute, normalised; empty for kMemory
  MountMode mode = MountMode::kOverlay;
};

struct VfsOptions {
  std::string workspace = "/workspace";  // always mounted (an empty memory tree if no mount)
  std::vector<MountSpec> mounts;
  vfs::HookSettings hooks;
};

}  // namespace matchlock::sandbox
