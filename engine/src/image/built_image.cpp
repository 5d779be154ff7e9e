#include "image/built_image.h"

#include <algorithm>

#include "image/digest.h"
#include "image/image_config.h"
#include "image/reference.h"

namespace matchlock::image {

Descriptor config_descriptor(std::string_view config_json) {
  Descriptor d;
  d.media_type = media_type::kOciConfig;
  d.digest = sha256_digest(config_json);
  d.size = static_cast<int64_t>(config_json.size());
  return d;
}

std::string oci_layer_media_type(std::string_view media_type) {
  if (media_type.empty() || media_type == "application/vnd.docker.image.rootfs.diff.tar.gzip") {
    return std::string(media_type::kOciLayerGzip);
  }
  if (media_type == "application/vnd.docker.image.rootfs.diff.tar") {
    return std::string(media_type::kOciLayerTar);
  }
  if (media_type == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip") {
    return "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
  }
  return std::string(media_type);
}

std::string built_image_manifest(std::string_view config_json,
                                 const std::vector<Descriptor>& layers) {
  std::vector<Descriptor> oci_layers;
  oci_layers.reserve(layers.size());
  for (const auto& l : layers) {
    Descriptor d;
    d.media_type = oci_layer_media_type(l.media_type);
    d.digest = l.digest;
    d.size = l.size;
    oci_layers.push_back(std::move(d));
  }
  return build_oci_manifest(config_descriptor(config_json), oci_layers);
}

Result<CheckedImage> check_built_image(const std::vector<std::string>& names,
                                       std::string_view manifest_json,
                                       std::string_view config_json) {
  if (names.empty()) return invalid_argument("a built image needs at least one name");
  CheckedImage out;
  for (const auto& name : names) {
    auto parsed = parse_reference(name);
    if (!parsed) return parsed.error();
    if (!parsed->digest.empty()) {
      return invalid_argument(name + ": the name must be a tag, not a digest");
    }
    std::string normal = parsed->to_string();
    if (std::find(out.names.begin(), out.names.end(), normal) == out.names.end()) {
      out.names.push_back(std::move(normal));
    }
  }
  auto manifest = parse_manifest(manifest_json);
  if (!manifest) return manifest.error();
  const Descriptor expected = config_descriptor(config_json);
  if (manifest->config.digest != expected.digest || manifest->config.size != expected.size) {
    return invalid_argument("manifest names config " + manifest->config.digest +
                            ", not the given config " + expected.digest);
  }
  if (auto cfg = parse_image_config(config_json); !cfg) return cfg.error();
  auto diff_ids = parse_diff_ids(config_json);
  if (!diff_ids) return diff_ids.error();
  if (diff_ids->size() != manifest->layers.size()) {
    return invalid_argument("config lists " + std::to_string(diff_ids->size()) + " diff_ids for " +
                            std::to_string(manifest->layers.size()) + " layers");
  }
  out.manifest_digest = sha256_digest(manifest_json);
  out.manifest = std::move(*manifest);
  return out;
}

}  // namespace matchlock::image
