// Parsing the OCI image config blob (application/vnd.oci.image.config.v1+json).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "image/image_store.h"

namespace matchlock::image {

// Upper bound for any JSON document read from an archive or the store (manifests, configs).
inline constexpr size_t kMaxJsonBytes = 4 * 1024 * 1024;

// Reads config.{User,WorkingDir,Entrypoint,Cmd,Env}; absent or null fields stay empty.
Result<ImageConfig> parse_image_config(std::string_view json);
// rootfs.diff_ids, in layer order (empty if absent); each must be a sha256 digest.
Result<std::vector<std::string>> parse_diff_ids(std::string_view json);

}  // namespace matchlock::image
