// The store-level pull: resolve the manifest (through an index by platform), then fetch each
// missing blob into the content store under a per-blob lock, streaming through a temp file that
// is renamed into place only after its size and sha256 match the descriptor.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"
#include "image/content_store.h"
#include "image/image_store.h"
#include "image/manifest.h"
#include "image/reference.h"

namespace matchlock::image::registry {

struct PulledImage {
  std::string manifest_digest;
  Descriptor config;
  std::string config_json;
  std::vector<Descriptor> layers;
  int64_t bytes_downloaded = 0;
  int blobs_downloaded = 0;
  int blobs_present = 0;
};

// `tmp_dir` holds the per-blob lock files (the content store's temp directory).
Result<PulledImage> pull_to_store(const ParsedReference& ref, const ContentStore& blobs,
                                  const std::filesystem::path& tmp_dir, const PullOptions& options);

// Index entries that fit the requested platform (variant only when asked for); attestation
// manifests never do.
Result<Descriptor> choose_platform(const std::vector<Descriptor>& entries,
                                   const PullOptions& options);

}  // namespace matchlock::image::registry
