// The router: which provider serves which part of the workspace. Mount points are paths
// relative to the workspace ("" is the workspace itself, "data/in" a nested mount); the
// longest mount point that contains a path serves it. Directories that lead to a nested mount
// but exist in no provider (`data` for a mount at "data/in" over a provider without `data`)
// are synthesised, read-only, and every directory lists the mount points directly beneath it.
// A rename or link across two mounts fails with EXDEV.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "vfs/provider.h"

namespace matchlock::vfs {

struct Mount {
  std::string point;  // relative to the workspace, normalised ("" = the workspace root)
  std::shared_ptr<Provider> provider;
  bool single_file = false;  // the provider's root is a regular file
};

class MountTable {
 public:
  // Two mounts on one point, or a mount point beneath a single-file mount, is kInvalidArgument.
  // Without a mount at "" the workspace root is an empty memory provider.
  static Result<MountTable> create(std::vector<Mount> mounts);

  struct Resolved {
    const Mount* mount = nullptr;  // nullptr: a synthesised directory
    std::string path;              // relative to the mount's provider
  };
  Resolved resolve(const std::string& workspace_path) const;
  // The mount whose tree holds `workspace_path`, even where resolve() reports a synthesised
  // directory (the provider may have a real directory there whose entries still show).
  Resolved serving(const std::string& workspace_path) const;
  // True if `workspace_path` is a mount point ("" included).
  bool is_mount_point(const std::string& workspace_path) const;
  // Names of mount points (or synthesised directories) directly beneath `workspace_path`.
  std::vector<std::string> children_of(const std::string& workspace_path) const;
  bool is_synthesised(const std::string& workspace_path) const;
  const std::vector<Mount>& mounts() const { return mounts_; }

 private:
  std::vector<Mount> mounts_;  // longest point first
};

}  // namespace matchlock::vfs
