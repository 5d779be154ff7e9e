// Loads the kernel modules shipped in the initramfs, only those this VM needs. A bundle built
// with matchlock's own kernel ships none (its drivers are built in); one made from Debian's
// binary kernel package (MATCHLOCK_KERNEL_META) ships them here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace matchlock::guest_agent {

// Loads the modules named in <dir>/order (one .ko file name per line, dependencies first) in
// two passes: first the virtio bus, then only the drivers for the virtio devices that are
// actually attached (no NIC, no network driver) plus the filesystems init needs. Failures are
// logged, not fatal.
void load_kernel_modules(const std::string& dir = "/modules");

// The module file names of an order file: one per line, blank lines and '#' comments skipped,
// names with '/' (or "." and "..") dropped.
std::vector<std::string> parse_module_order(std::string_view text);

// The kernel's name of a module file (its /sys/module entry): "virtio-rng.ko" is virtio_rng.
std::string kernel_module_name(const std::string& file_name);

// Loads one module from <dir> by file name ("fuse.ko"); true if loaded, already present (then
// nothing is read) or not shipped in <dir> (taken as built into the kernel).
bool load_kernel_module(const std::string& file_name, const std::string& dir = "/modules");

}  // namespace matchlock::guest_agent
