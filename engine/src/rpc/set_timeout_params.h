// `set_timeout` params (a matchlock extension): {"timeout_seconds": integer >= 0}; 0 clears the
// sandbox's pending lifetime.
#pragma once

#include <rapidjson/document.h>

#include <cstdint>

#include "core/result.h"

namespace matchlock::rpc {

// The seconds asked for. kInvalidArgument naming timeout_seconds when it is missing, not an
// integer (1.5, "60", true), negative, or beyond SandboxHost::kMaxTimeoutSeconds.
Result<uint64_t> parse_set_timeout_params(const rapidjson::Value* params);

}  // namespace matchlock::rpc
