// Reads an image archive (classic `docker save`, Docker 25+ save, OCI image-layout tar) into
// the content store. Two streaming passes over the file: the first indexes entries and keeps
// small JSON documents in memory (manifest.json may come last), the second streams only the
// layer blobs that the chosen manifest names, hashing and verifying them as they are written.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"
#include "image/content_store.h"
#include "image/manifest.h"

namespace matchlock::image {

struct ArchiveImage {
  std::string manifest_digest;
  Descriptor config;
  std::vector<Descriptor> layers;
  std::string config_json;
};

// `tag` (normalised) picks among several images in one docker-save archive. Every blob put into
// the store is appended to `written`, also on failure, so the caller can clean up.
Result<ArchiveImage> read_image_archive(const std::filesystem::path& archive_path,
                                        const ContentStore& store, const std::string& tag,
                                        std::vector<BlobInfo>& written);

}  // namespace matchlock::image
