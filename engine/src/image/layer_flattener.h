// Applies image layers, in order, into a staging directory: the union filesystem flattened.
// Honours OCI/AUFS whiteouts (".wh.<name>", ".wh..wh..opq"), hardlinks and symlinks, never
// following a symlink on the host, and records each path's tar ownership/mode/mtime, because the
// staging tree is owned by whoever runs matchlock (maybe not root) and must not carry setuid bits.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/result.h"

// libarchive's handles (archive.h stays out of this header).
struct archive;
struct archive_entry;

namespace matchlock::image {

// What the image says about one path (from the last tar header that wrote it).
struct EntryMeta {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t mode = 0;  // full st_mode: type bits | 07777
  int64_t mtime_sec = 0;
  int64_t mtime_nsec = 0;
};

struct FlattenStats {
  uint64_t entries = 0;          // filesystem objects written
  uint64_t whiteouts = 0;        // whiteout and opaque markers applied
  uint64_t skipped_special = 0;  // device nodes, fifos, sockets (not representable rootless)
  uint64_t file_bytes = 0;       // regular file content written
};

class LayerFlattener {
 public:
  // `staging` must exist and be empty; it is canonicalised (no symlinks in its own path).
  static Result<LayerFlattener> create(const std::filesystem::path& staging);

  // Applies one layer blob (plain, gzip or zstd tar). Errors name the offending path.
  Status apply_layer(const std::filesystem::path& layer);
  // Restores directory mtimes disturbed by later layers. Call once after the last layer.
  Status finish();

  const std::filesystem::path& staging() const { return root_; }
  // Relative path ("" is the root) -> metadata; only paths the layers actually wrote.
  const std::map<std::string, EntryMeta>& metadata() const { return meta_; }
  const FlattenStats& stats() const { return stats_; }

 private:
  explicit LayerFlattener(std::filesystem::path root) : root_(std::move(root)) {}
  std::filesystem::path abs(const std::string& rel) const {
    return rel.empty() ? root_ : root_ / rel;
  }
  // OK if every parent of `rel` is a real directory or absent; error if one is a symlink/file.
  Status check_parents(const std::string& rel) const;
  Status remove_lower(const std::string& rel);
  Status make_opaque(const std::string& dir_rel);
  // The parts of apply_layer, one per kind of entry work.
  Status apply_whiteout(const std::string& rel, const std::string& name);
  Status clear_replaced_path(const std::string& rel, bool new_is_dir);
  Status redirect_hardlink(::archive_entry* e, const std::string& rel, const char* hardlink,
                           EntryMeta& meta);
  Status copy_entry_data(::archive* in, ::archive* out, const std::string& rel);
  void forget(const std::string& rel);
  void mark_added(const std::string& rel);

  std::filesystem::path root_;
  std::map<std::string, EntryMeta> meta_;
  std::set<std::string> added_;            // paths the current layer wrote
  std::set<std::string> added_ancestors_;  // their parent directories
  FlattenStats stats_;
};

// Confines a tar entry name: strips leading "/" and "./", drops "." parts; nullopt if it has
// ".." parts or is not a clean relative path.
std::optional<std::string> confine_entry_path(std::string_view name);

}  // namespace matchlock::image
