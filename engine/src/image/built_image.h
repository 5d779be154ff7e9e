// An image `matchlock build` assembled: its manifest, and the checks ImageStore::add_image makes
// before it records one. The layers are already in the content store when these run.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "image/manifest.h"

namespace matchlock::image {

// Descriptor of exactly these config bytes (OCI config media type).
Descriptor config_descriptor(std::string_view config_json);

// The OCI media type for a layer descriptor: docker's rootfs.diff types become their OCI
// equivalents (a manifest mixing the two families is not valid OCI); empty means a gzip tar, what
// the build itself writes; anything else is kept.
std::string oci_layer_media_type(std::string_view media_type);

// The canonical OCI manifest of a built image: `config_json`'s descriptor and the layers in order
// (base image layers first, each keeping its compression).
std::string built_image_manifest(std::string_view config_json,
                                 const std::vector<Descriptor>& layers);

struct CheckedImage {
  std::vector<std::string> names;  // normalised like every reference, duplicates dropped
  std::string manifest_digest;
  Manifest manifest;
};

// Normalises `names` (each must be a tag, not a digest; at least one) and checks that the
// manifest parses, names exactly these config bytes, and has one layer per config diff_id.
Result<CheckedImage> check_built_image(const std::vector<std::string>& names,
                                       std::string_view manifest_json,
                                       std::string_view config_json);

}  // namespace matchlock::image
