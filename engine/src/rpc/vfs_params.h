// rpc create `vfs` (docs/rpc.md, docs/files.md) into the sandbox's VfsOptions.
//
// THREAT MODEL: the client's JSON; every field is type-checked and errors name it
// ("invalid vfs.mounts[\"/workspace/x\"].type: unknown type \"nfs\" ...").
#pragma once

#include <rapidjson/document.h>

#include "core/result.h"
#include "sandbox/mount_spec.h"

namespace matchlock::rpc {

Result<sandbox::VfsOptions> parse_vfs_params(const rapidjson::Value& vfs);

}  // namespace matchlock::rpc
