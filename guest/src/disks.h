// Finds the sandbox disks by virtio-blk serial and assembles the overlay root.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

// "/dev/vdX" of the virtio-blk disk whose serial is `serial`, waiting up to `timeout` because
// the kernel probes devices asynchronously. Never relies on name order.
std::optional<std::string> wait_for_disk(const std::string& serial,
                                         std::chrono::milliseconds timeout);

// Mounts base (ro) and upper, then overlayfs of both at `new_root`.
Status mount_overlay_root(const std::string& base_device, const std::string& upper_device,
                          const std::string& new_root);

}  // namespace matchlock::guest_agent
