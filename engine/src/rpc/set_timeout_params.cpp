#include "rpc/set_timeout_params.h"

#include <string>

#include "rpc/sandbox_host.h"

namespace matchlock::rpc {

Result<uint64_t> parse_set_timeout_params(const rapidjson::Value* params) {
  if (!params || !params->IsObject()) return invalid_argument("timeout_seconds is required");
  auto it = params->FindMember("timeout_seconds");
  if (it == params->MemberEnd() || it->value.IsNull()) {
    return invalid_argument("timeout_seconds is required");
  }
  // Integers only: a fraction would be rounded somewhere, and a number too large for uint64
  // arrives as a double. The bound keeps the deadline a real date (and its ms a uint64).
  const auto& v = it->value;
  if (!v.IsUint64() || v.GetUint64() > SandboxHost::kMaxTimeoutSeconds) {
    return invalid_argument("invalid timeout_seconds: must be an integer from 0 to " +
                            std::to_string(SandboxHost::kMaxTimeoutSeconds));
  }
  return v.GetUint64();
}

}  // namespace matchlock::rpc
