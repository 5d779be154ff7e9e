// VFS mounts of a sandbox (`run -v HOST:GUEST[:MODE]`, `--workspace`, rpc create `vfs`).
// The parsers validate everything before anything starts and name the offending value.
#pragma once

#include <functional>
#include <string>
#include <string_view>
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

// Lexically cleaned absolute path: repeated slashes and "." dropped, ".." resolved (never above
// "/"), no trailing slash. `path` must start with '/'.
std::string clean_absolute_path(std::string_view path);

// `--workspace PATH` (also rpc vfs.workspace): absolute, [A-Za-z0-9/_.-] only, normalised, not a
// directory the guest needs for itself (see parse_workspace in mount_spec.cpp). `field` names
// the value in errors ("--workspace", "vfs.workspace").
Result<std::string> parse_workspace(std::string_view value, std::string_view field);

// One `-v HOST:GUEST[:MODE]`; MODE overlay (default), host_fs, ro or readonly. A relative HOST is
// taken from `cwd`, a relative GUEST from `workspace`. The host path must exist.
Result<MountSpec> parse_volume(std::string_view value, const std::string& cwd,
                               const std::string& workspace);

// The rules over a whole set of mounts: each guest path within the workspace, no guest path
// twice, nothing mounted beneath a single-file mount. `label` names a mount in errors.
Status validate_mounts(const VfsOptions& vfs,
                       const std::function<std::string(const MountSpec&)>& label);

// `run -v ... --workspace ...`: the flags in order; errors name the -v value or --workspace.
Result<VfsOptions> parse_cli_vfs(const std::vector<std::string>& volumes,
                                 const std::string& workspace, const std::string& cwd);

}  // namespace matchlock::sandbox
