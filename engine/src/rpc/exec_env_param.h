// The exec family's `env` param (our extension of the protocol): an object of variable names to
// string values, added to the process environment with the highest precedence.
//
// THREAT MODEL: params come from the client; names and values are checked so that nothing
// that could not be one "K=V" environment entry reaches the guest.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::rpc {

// `env` may be nullptr (absent or null): no variables. Returns "K=V" entries in param order;
// errors read "invalid env...".
Result<std::vector<std::string>> parse_exec_env(const rapidjson::Value* env);

}  // namespace matchlock::rpc
