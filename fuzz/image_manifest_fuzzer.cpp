// Registry and archive JSON (engine/src/image/manifest.cpp, image_config.cpp): image manifests,
// indexes / manifest lists, and image configs, as a registry or an image archive sends them.
// Invariants: every accepted descriptor has a valid sha256 digest and a non-negative size; an
// accepted manifest rebuilt as the canonical OCI manifest parses back to the same descriptors;
// a selected platform is one of the index entries.
#include <string>

#include "fuzz_check.h"
#include "image/digest.h"
#include "image/image_config.h"
#include "image/manifest.h"

namespace image = matchlock::image;

namespace {

bool same_descriptor(const image::Descriptor& a, const image::Descriptor& b) {
  return a.media_type == b.media_type && a.digest == b.digest && a.size == b.size;
}

void check_descriptor(const image::Descriptor& d) {
  FUZZ_CHECK(image::is_sha256_digest(d.digest));
  FUZZ_CHECK(d.size >= 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view json = matchlock::fuzz::as_text(data, size);
  (void)image::looks_like_index(json);

  auto manifest = image::parse_manifest(json);
  if (manifest.ok()) {
    check_descriptor(manifest->config);
    for (const auto& layer : manifest->layers) {
      check_descriptor(layer);
      FUZZ_CHECK(image::is_layer_media_type(layer.media_type));
    }
    auto again =
        image::parse_manifest(image::build_oci_manifest(manifest->config, manifest->layers));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(same_descriptor(again->config, manifest->config));
    FUZZ_CHECK(again->layers.size() == manifest->layers.size());
    for (size_t i = 0; i < again->layers.size(); ++i) {
      FUZZ_CHECK(same_descriptor(again->layers[i], manifest->layers[i]));
    }
  }

  auto index = image::parse_index(json);
  if (index.ok()) {
    for (const auto& entry : *index) check_descriptor(entry);
    auto chosen = image::select_platform(*index);
    if (chosen.ok()) {
      FUZZ_CHECK(!chosen->attestation);
      bool listed = false;
      for (const auto& entry : *index) listed = listed || same_descriptor(entry, *chosen);
      FUZZ_CHECK(listed);
    }
  }

  (void)image::parse_image_config(json);
  auto diff_ids = image::parse_diff_ids(json);
  if (diff_ids.ok()) {
    for (const auto& id : *diff_ids) FUZZ_CHECK(image::is_sha256_digest(id));
  }
  return 0;
}
