// The workspace mount (CONFIG "workspace"): the host's file server, reached through virtio-fs
// (the vhost-user-fs device tagged "matchlock"), mounted before READY so every exec sees it.
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

struct VfsMount {
  std::string workspace;  // absolute guest path
};

// Loads fuse.ko and virtiofs.ko from `modules_dir`, creates `workspace` and mounts the virtio-fs
// tag there. Any failure is an error naming the step (the host then fails the boot).
Result<VfsMount> mount_workspace(const std::string& workspace, const std::string& modules_dir);

}  // namespace matchlock::guest_agent
