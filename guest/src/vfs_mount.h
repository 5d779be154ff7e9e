// The workspace mount (CONFIG "workspace"): the FUSE filesystem the host serves over the
// virtio-serial port "matchlock.vfs", mounted before READY so every exec sees it.
#pragma once

#include <sys/types.h>

#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

struct VfsMount {
  std::string workspace;  // absolute guest path
  pid_t relay_pid = -1;
};

// Loads fuse.ko from `modules_dir`, creates `workspace`, mounts "fuse.matchlock" there and starts
// the relay. Any failure is an error naming the step (the host then fails the boot).
Result<VfsMount> mount_workspace(const std::string& workspace, const std::string& modules_dir);

}  // namespace matchlock::guest_agent
