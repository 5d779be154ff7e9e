#include "rpc/exec_env_param.h"

#include <string_view>

namespace matchlock::rpc {

Result<std::vector<std::string>> parse_exec_env(const rapidjson::Value* env) {
  std::vector<std::string> out;
  if (!env || env->IsNull()) return out;
  if (!env->IsObject()) return invalid_argument("invalid env: must be an object of strings");
  for (const auto& m : env->GetObject()) {
    std::string_view name(m.name.GetString(), m.name.GetStringLength());
    if (name.empty() || name.find('=') != std::string_view::npos ||
        name.find('\0') != std::string_view::npos) {
      return invalid_argument("invalid env name \"" + std::string(name) +
                              "\": must be non-empty, without '=' or NUL");
    }
    if (!m.value.IsString()) {
      return invalid_argument("invalid env." + std::string(name) + ": must be a string");
    }
    std::string_view value(m.value.GetString(), m.value.GetStringLength());
    if (value.find('\0') != std::string_view::npos) {
      return invalid_argument("invalid env." + std::string(name) + ": contains NUL");
    }
    out.push_back(std::string(name) + "=" + std::string(value));
  }
  return out;
}

}  // namespace matchlock::rpc
