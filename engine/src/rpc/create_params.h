// Validation of `create` params (docs/rpc.md) into the shared SandboxOptions.
//
// THREAT MODEL: params come from the client; every field is type- and range-checked, and an
// error names the offending field ("invalid resources.cpus: ...").
#pragma once

#include <rapidjson/document.h>

#include "core/result.h"
#include "sandbox/sandbox_options.h"

namespace matchlock::rpc {

struct CreateRequest {
  sandbox::SandboxOptions options;
  bool launch_entrypoint = false;
};

// `params` may be nullptr (absent). Errors are reported as -32602 with error().message.
Result<CreateRequest> parse_create_params(const rapidjson::Value* params);

}  // namespace matchlock::rpc
