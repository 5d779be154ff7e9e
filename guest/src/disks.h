// Finds the sandbox disks by virtio-blk serial, assembles the overlay root and mounts the data
// disks (CONFIG "disks").
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "step_clock.h"

namespace matchlock::guest_agent {

// "/dev/vdX" of the virtio-blk disk whose serial is `serial`, waiting up to `timeout` because
// the kernel probes devices asynchronously. Never relies on name order.
std::optional<std::string> wait_for_disk(const std::string& serial,
                                         std::chrono::milliseconds timeout);

// The sandbox's two disks, found by serial when the guest boots.
struct SandboxDisks {
  std::string base;   // "/dev/vdX": the image, read-only; the same for every sandbox of a save
  std::string upper;  // the sandbox's own writable disk: a new one for each sandbox
  bool image_mounted = false;  // base is mounted already (mount_image_disk at boot)
};

// Mounts the image's disk read-only where the overlay root takes it from. Done at boot, before
// a save: the key of a saved guest pins the image and its disk file, so every sandbox restored
// from the save has this very disk, and is spared mounting it.
Status mount_image_disk(const std::string& base_device);

// Mounts upper, then overlayfs of base (mounted by mount_image_disk, or now if that failed) and
// upper at `new_root`, marking each step on `clock`.
Status mount_overlay_root(const SandboxDisks& disks, const std::string& new_root, StepClock& clock);

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
