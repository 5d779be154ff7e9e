// Loads the kernel modules shipped in the initramfs.
#pragma once

#include <string>

namespace matchlock::guest_agent {

// Loads every module named in <dir>/order (one .ko file name per line, dependencies first).
// A missing order file means nothing to load; individual failures are logged, not fatal.
void load_kernel_modules(const std::string& dir = "/modules");

}  // namespace matchlock::guest_agent
