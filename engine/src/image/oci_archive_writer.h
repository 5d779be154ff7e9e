// Writes an image as an OCI image-layout tar (`matchlock build --output type=oci,dest=FILE`):
// oci-layout, index.json naming the manifest, and blobs/sha256/<hex> for the manifest, the
// config and every layer. `docker load`, `skopeo` and our own `image import` read it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"
#include "image/content_store.h"

namespace matchlock::image {

struct OciArchiveImage {
  // Each becomes one index.json entry annotated with org.opencontainers.image.ref.name (the tag)
  // and io.containerd.image.name (the full name, docker.io/library/ filled in). May be empty.
  std::vector<std::string> names;
  std::string manifest_json;
  std::string config_json;  // the manifest's config blob
};

// Streams the archive to `fd` (a pipe or stdout will do). Layer blobs are read from `blobs` and
// checked against the manifest's digests and sizes on the way.
Status write_oci_archive_to_fd(int fd, const OciArchiveImage& image, const ContentStore& blobs);

// Writes the archive to `dest` through a temp file beside it, fsynced and renamed into place:
// `dest` is either the complete archive or untouched.
Status write_oci_archive(const std::filesystem::path& dest, const OciArchiveImage& image,
                         const ContentStore& blobs);

}  // namespace matchlock::image
