// Turns a flattened staging tree into an ext4 image without root: mkfs.ext4 -d copies the tree,
// then one debugfs run sets the ownership and modes the image wants (from the tar headers) where
// they differ from what mkfs copied off the host.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "core/result.h"
#include "image/layer_flattener.h"

namespace matchlock::image {

struct Ext4Plan {
  int64_t size_bytes = 0;
  uint64_t inodes = 0;
  std::string debugfs_script;  // empty if nothing needs fixing
  uint64_t fixes = 0;          // paths whose owner or mode the script changes
};

// Walks `staging` and computes the image size, inode count and the debugfs fix-up script.
// Paths no layer wrote (implicit parents) become root:root with their on-disk mode.
Result<Ext4Plan> plan_ext4(const std::filesystem::path& staging,
                           const std::map<std::string, EntryMeta>& meta);

// Quotes a path for a debugfs command line; error for names debugfs cannot take (newlines).
Result<std::string> debugfs_quote(const std::string& path);

// mkfs.ext4 into `out` (created or overwritten), then applies the plan's script.
// `scratch_dir` holds the temporary script file.
Status build_ext4(const std::filesystem::path& staging, const Ext4Plan& plan,
                  const std::filesystem::path& out, const std::filesystem::path& scratch_dir);

}  // namespace matchlock::image
