// Loads the kernel modules shipped in the initramfs, only those this VM needs.
#pragma once

#include <string>

namespace matchlock::guest_agent {

// Loads the modules named in <dir>/order (one .ko file name per line, dependencies first) in
// two passes: first the virtio bus, then only the drivers for the virtio devices that are
// actually attached (no NIC, no network driver) plus the filesystems init needs. Modules
// marked on-demand (fuse) wait for load_kernel_module(). Failures are logged, not fatal.
void load_kernel_modules(const std::string& dir = "/modules");

// Loads one module from <dir> by file name ("fuse.ko"); true if loaded or already present.
bool load_kernel_module(const std::string& file_name, const std::string& dir = "/modules");

}  // namespace matchlock::guest_agent
