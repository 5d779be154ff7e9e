// The guest bundle: the kernel (ELF vmlinux, booted through PVH) and the initramfs holding
// matchlock-guest. Found at $MATCHLOCK_BUNDLE, else <dir of the matchlock binary>/bundle.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::vm {

struct GuestBundle {
  std::filesystem::path kernel;
  std::filesystem::path initrd;
};

Result<GuestBundle> locate_bundle();

// Creates a sparse ext4 file of `size_mib` for the guest's writable layer (blocking; ~10 ms).
Status create_upper_disk(const std::filesystem::path& path, uint64_t size_mib);

}  // namespace matchlock::vm
