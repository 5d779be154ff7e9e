// Makes virtio_blk forget what it knew about the sandbox's disks, for a guest restored from a
// boot saved by another sandbox: that sandbox's upper disk (and data disks) had other contents,
// maybe another size, and blocks of them may sit in the page cache.
#pragma once

#include <chrono>
#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

// Unbinds and binds again (through /sys/bus/virtio/drivers/virtio_blk) every virtio-blk disk
// whose serial is not `keep_serial`, then waits up to `timeout` for each to reappear under its
// serial (its /dev/vdX name may change). Must run before any of them is mounted.
Status reprobe_virtio_disks(const std::string& keep_serial, std::chrono::milliseconds timeout);

}  // namespace matchlock::guest_agent
