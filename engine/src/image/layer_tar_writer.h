// Writes an image layer tar canonically, so the same filesystem change always gives the same
// bytes and so the same diff_id: POSIX pax (restricted: extended headers only where ustar cannot
// hold a field), numeric ownership with empty user/group names, whole-second mtimes, no atime or
// ctime, xattrs as SCHILY.xattr records in name order, entries in tar_path_less order (checked),
// no padding after the end-of-archive blocks. The sha256 of the bytes written is the diff_id.
// Blocking I/O; callers on the loop run it on the thread pool.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "image/digest.h"

namespace matchlock::image {

enum class TarEntryKind {
  kDirectory,
  kFile,
  kSymlink,
  kHardlink,
  kCharDevice,
  kBlockDevice,
  kFifo
};

struct TarEntry {
  std::string path;  // clean relative path: no leading "/" or "./", no "." or ".." parts, not ""
  TarEntryKind kind = TarEntryKind::kFile;
  uint32_t mode = 0644;  // permission bits (07777); the type comes from `kind`
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime = 0;       // seconds; sub-second precision is dropped on purpose (reproducible)
  int64_t size = 0;        // kFile only: the number of content bytes that follow
  std::string link;        // kSymlink: target as written; kHardlink: an earlier entry's path
  uint32_t dev_major = 0;  // kCharDevice, kBlockDevice
  uint32_t dev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;  // any order; written sorted
};

// The order entries must be added in: component-wise byte order ("a" < "a/b" < "a-b"), i.e. a
// depth-first walk with each directory's names sorted, as docker's own layer tars are.
bool tar_path_less(std::string_view a, std::string_view b);

struct TarDigest {
  std::string diff_id;  // "sha256:<hex>" of the uncompressed tar
  int64_t size = 0;     // bytes written
  uint64_t entries = 0;
};

// Whiteout names (OCI image spec): ".wh.NAME" hides NAME of lower layers, ".wh..wh..opq" in a
// directory hides everything lower layers put in it.
inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";

class LayerTarWriter {
 public:
  // Writes to `fd` (not owned; a pipe is fine: the writer never seeks).
  static Result<LayerTarWriter> open(int fd);
  LayerTarWriter(LayerTarWriter&&) noexcept;
  LayerTarWriter& operator=(LayerTarWriter&&) noexcept;
  ~LayerTarWriter();

  // Any kind but kFile with content (a kFile entry of size 0 is fine).
  Status add(const TarEntry& entry);
  // kFile: copies exactly entry.size bytes from `fd`, with pread from `offset` when given,
  // else read() from the fd's position; error if the data ends early. When `content_hash` is
  // given the content is also fed to it (so a caller hashing inputs reads a file once).
  Status add_file(const TarEntry& entry, int fd, std::optional<int64_t> offset = std::nullopt,
                  Sha256* content_hash = nullptr);
  Status add_file(const TarEntry& entry, std::string_view content);
  // ".wh.NAME" beside `path`, and "DIR/.wh..wh..opq": empty regular files with fixed metadata
  // (mode 0, owner 0:0, mtime 0), so that when something was deleted does not change the layer.
  Status add_whiteout(std::string_view path);
  Status add_opaque_marker(std::string_view dir);

  // Writes the end-of-archive blocks. The writer accepts nothing afterwards.
  Result<TarDigest> finish();

 private:
  struct State;
  explicit LayerTarWriter(std::unique_ptr<State> s);
  Status write_header(const TarEntry& entry);
  Status write_data(const void* data, size_t len);
  std::unique_ptr<State> s_;
};

// The path of a whiteout for `path` ("a/b" -> "a/.wh.b").
std::string whiteout_path(std::string_view path);

}  // namespace matchlock::image
