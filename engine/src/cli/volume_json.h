// The `volume ... --json` output the SDKs parse (docs/rpc.md): one object per volume,
// {"name","size":"%.1f MB","path"}, and an array of them for `ls` ([] when none).
#pragma once

#include <string>
#include <vector>

#include "volume/volume_store.h"

namespace matchlock::cli {

std::string volume_json(const volume::VolumeInfo& v);
std::string volumes_json(const std::vector<volume::VolumeInfo>& vs);

}  // namespace matchlock::cli
