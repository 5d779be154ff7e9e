// A layer tar as the image store keeps it: gzip-compressed into the content store, with a gzip
// header that holds no file name and mtime 0, so the same tar always gives the same blob digest
// (the build cache and registry pushes rely on that). And the way back: a stored layer blob
// (gzip, zstd or plain, told by its content) as an uncompressed tar stream, for layer-apply.
// Blocking; callers on the loop run these on the thread pool.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/result.h"
#include "image/content_store.h"

namespace matchlock::image {

struct LayerBlob {
  std::string digest;   // "sha256:..." of the gzip blob (manifest layer descriptor)
  int64_t size = 0;     // bytes of the gzip blob
  std::string diff_id;  // "sha256:..." of the uncompressed tar (config rootfs.diff_ids)
};

Result<LayerBlob> compress_layer(const std::filesystem::path& tar, const ContentStore& store);

// Writes the uncompressed tar of `blob` to `out_fd` (not owned; a pipe is fine).
Status decompress_layer(const std::filesystem::path& blob, int out_fd);

}  // namespace matchlock::image
