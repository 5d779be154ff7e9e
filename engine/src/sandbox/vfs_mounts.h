// Turns a sandbox's VfsOptions into the file server's mount table: one provider per mount
// (memory, host directory, read-only host directory, or overlay with its upper directory in
// the sandbox's own directory, which dies with it).
#pragma once

#include <filesystem>

#include "core/result.h"
#include "sandbox/mount_spec.h"
#include "vfs/mount_table.h"

namespace matchlock::sandbox {

// `sandbox_dir` holds overlay uppers (vfs/mount-N). Errors name the mount's host path.
Result<vfs::MountTable> build_mount_table(const VfsOptions& options,
                                          const std::filesystem::path& sandbox_dir);

// The workspace-relative mount point of a guest path inside the workspace ("" for the
// workspace itself).
std::string workspace_relative(const std::string& workspace, const std::string& guest_path);

}  // namespace matchlock::sandbox
