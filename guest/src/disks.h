// Finds the sandbox disks by virtio-blk serial, assembles the overlay root and mounts the data
// disks (CONFIG "disks").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::guest_agent {

// "/dev/vdX" of the virtio-blk disk whose serial is `serial`, waiting up to `timeout` because
// the kernel probes devices asynchronously. Never relies on name order.
std::optional<std::string> wait_for_disk(const std::string& serial,
                                         std::chrono::milliseconds timeout);

// Mounts base (ro) and upper, then overlayfs of both at `new_root`.
Status mount_overlay_root(const std::string& base_device, const std::string& upper_device,
                          const std::string& new_root);

// A data disk as CONFIG asks for it (checked by parse_data_disk before use).
struct DataDisk {
  std::string serial;  // "disk<N>"
  std::string path;    // absolute mount point
  bool readonly = false;
};

// serial "disk" + 1-2 digits, path absolute, normalised-looking (no "." or ".." parts, no NUL,
// not "/"). The host checks the same before boot; this guards the agent on its own.
Status validate_data_disk(const DataDisk& disk);

// Waits up to `timeout` for the device, then mkdir -p and mounts it as ext4 (read-only if
// asked). Errors name the serial and the path.
Status mount_data_disk(const DataDisk& disk, std::chrono::milliseconds timeout);

// Unmounts what mount_data_disk mounted, newest first, so each journal is left clean; a busy
// one is remounted read-only instead (which also flushes it).
void unmount_data_disks(const std::vector<std::string>& paths);

}  // namespace matchlock::guest_agent
