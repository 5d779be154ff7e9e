// Makes virtio_blk forget what it knew about a sandbox's data disks, for a guest restored from a
// boot saved by another sandbox: that sandbox's data disks may have had another size and mode.
#pragma once

#include <chrono>
#include <set>
#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

// Unbinds and binds again (through /sys/bus/virtio/drivers/virtio_blk) every virtio-blk disk
// whose serial is not in `keep_serials`, then waits up to `timeout` for each to reappear under
// its serial (its /dev/vdX name may change). Must run before any of them is mounted. For data
// disks, whose read-only flag (a feature negotiated at probe) may differ from the saved boot's.
Status reprobe_virtio_disks(const std::set<std::string>& keep_serials,
                            std::chrono::milliseconds timeout);

}  // namespace matchlock::guest_agent
