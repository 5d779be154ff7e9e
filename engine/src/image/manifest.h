// OCI / Docker schema2 manifests and indexes: parsing, platform selection, and building the
// canonical OCI manifest that docker-save imports are given (so their digest is deterministic).
// Shared by archive import and, later, the registry client.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::image {

namespace media_type {
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
}  // namespace media_type

struct Descriptor {
  std::string media_type;
  std::string digest;
  int64_t size = 0;
  std::string os, architecture, variant;  // platform, for index entries
  bool attestation = false;               // buildx attestation manifest: never an image
};

struct Manifest {
  Descriptor config;
  std::vector<Descriptor> layers;
};

bool is_index_media_type(std::string_view mt);
bool is_manifest_media_type(std::string_view mt);
bool is_layer_media_type(std::string_view mt);

// Parses an image manifest (OCI or Docker schema2); validates digests, sizes and media types.
Result<Manifest> parse_manifest(std::string_view json);
// Parses the `manifests` array of an index (OCI index, Docker list or an OCI layout index.json).
Result<std::vector<Descriptor>> parse_index(std::string_view json);
// True if `json` is an index (has "manifests") rather than an image manifest.
bool looks_like_index(std::string_view json);
// Picks the image for os/arch: exact platform match first; a lone non-attestation entry with no
// platform is accepted too. kNotFound if nothing fits.
Result<Descriptor> select_platform(const std::vector<Descriptor>& entries,
                                   std::string_view os = "linux",
                                   std::string_view architecture = "amd64");
// Canonical compact OCI manifest JSON for a config and layers (stable key order).
std::string build_oci_manifest(const Descriptor& config, const std::vector<Descriptor>& layers);
// Layer media type by magic bytes: gzip, zstd, else plain tar.
std::string_view layer_media_type_for_magic(const unsigned char* head, size_t len);

}  // namespace matchlock::image
