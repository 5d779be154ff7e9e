// The pseudo filesystems PID 1 mounts, before and after switching to the overlay root.
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

inline constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// /proc, /sys and /dev in the initramfs; also makes sure fds 0-2 are open (on the console) so
// later pipes never land on them.
Status mount_initramfs_filesystems();

// Makes `new_root` the root of the mount namespace and of this process.
Status switch_root(const std::string& new_root);

// /proc, /sys, /dev, /dev/pts, /dev/shm, /tmp, /run, /sys/fs/cgroup inside the new root.
Status mount_root_filesystems();

}  // namespace matchlock::guest_agent
