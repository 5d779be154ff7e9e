// Named volumes: sparse ext4 images under $MATCHLOCK_HOME/volumes/NAME.ext4 that outlive
// sandboxes (`matchlock volume`, `run --disk @NAME:/path`). Every change is made on a temp file
// in the same directory and linked into place, so a failure or a race never leaves a half
// volume under a real name, and an existing volume is never replaced.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::volume {

inline constexpr uint64_t kDefaultSizeMib = 10240;
inline constexpr uint64_t kMinSizeMib = 16;  // mkfs.ext4 with a journal needs a few MiB
inline constexpr uint64_t kMaxSizeMib = 1024 * 1024;

struct VolumeInfo {
  std::string name;
  uint64_t size_bytes = 0;  // the image's apparent size (it is sparse on disk)
  std::filesystem::path path;
};

// $MATCHLOCK_HOME/volumes, absolute.
std::filesystem::path volumes_dir();

// ^[A-Za-z0-9][A-Za-z0-9_.-]*$, at most 128 characters; the error names the value.
Status validate_volume_name(std::string_view name);

// Where volume `name` lives (the name is not checked).
std::filesystem::path volume_path(std::string_view name);

// "%.1f MB" of the size in MiB, as the SDKs expect ("10240.0 MB").
std::string size_text(uint64_t size_bytes);

// mkfs.ext4 on a sparse file of size_mib MiB. Exists -> "named volume already exists: NAME".
Result<VolumeInfo> create_volume(std::string_view name, uint64_t size_mib);

// Every volume, by name. No volumes directory yet = none.
Result<std::vector<VolumeInfo>> list_volumes();

// Missing -> kNotFound "named volume not found: NAME".
Result<VolumeInfo> find_volume(std::string_view name);

// Deletes the image. The caller has checked that no sandbox uses it.
Status remove_volume(std::string_view name);

// A copy of `src` named `dst`, keeping holes, mode, owner (when permitted) and mtime.
Result<VolumeInfo> copy_volume(std::string_view src, std::string_view dst);

}  // namespace matchlock::volume
