#include "rpc/port_forward_params.h"

#include "core/json.h"

namespace matchlock::rpc {
namespace {

Error invalid(const std::string& field, const std::string& why) {
  return invalid_argument(field + ": " + why);
}

Result<uint16_t> port(const rapidjson::Value& forward, const char* name, const std::string& field,
                      int min) {
  const auto* v = json::member(forward, name);
  if (!v || !v->IsInt64()) return invalid(field + "." + name, "must be an integer");
  const int64_t n = v->GetInt64();
  if (n < min || n > 65535)
    return invalid(field + "." + name, "must be " + std::to_string(min) + "-65535");
  return static_cast<uint16_t>(n);
}

Result<std::vector<std::string>> addresses(const rapidjson::Value* params) {
  std::vector<std::string> out;
  const auto* list = params ? json::member(*params, "addresses") : nullptr;
  if (!list || list->IsNull()) return out;
  if (!list->IsArray()) return invalid("addresses", "must be an array of IP addresses");
  for (const auto& a : list->GetArray()) {
    if (!a.IsString()) return invalid("addresses", "must be an array of IP addresses");
    auto addr = sandbox::parse_listen_address(std::string(a.GetString(), a.GetStringLength()));
    if (!addr.ok()) return invalid("addresses", addr.error().message);
    out.push_back(*addr);
  }
  return out;
}

}  // namespace

Result<std::vector<sandbox::PortForwardRule>> parse_port_forward_params(
    const rapidjson::Value* params) {
  const auto* forwards = params ? json::member(*params, "forwards") : nullptr;
  if (!forwards || forwards->IsNull() || (forwards->IsArray() && forwards->Empty()))
    return invalid_argument("forwards is required");
  if (!forwards->IsArray()) return invalid("forwards", "must be an array");
  auto defaults = addresses(params);
  if (!defaults.ok()) return defaults.error();
  std::vector<sandbox::PortForwardSpec> specs;
  for (rapidjson::SizeType i = 0; i < forwards->Size(); ++i) {
    const auto& f = (*forwards)[i];
    const std::string field = "forwards[" + std::to_string(i) + "]";
    if (!f.IsObject()) return invalid(field, "must be an object");
    auto local = port(f, "local_port", field, 0);  // 0: any free port, reported in bindings
    if (!local.ok()) return local.error();
    auto remote = port(f, "remote_port", field, 1);
    if (!remote.ok()) return remote.error();
    sandbox::PortForwardSpec spec;
    spec.host_port = *local;
    spec.guest_port = *remote;
    if (const auto* a = json::member(f, "address"); a && !a->IsNull()) {
      if (!a->IsString()) return invalid(field + ".address", "must be an IP address");
      auto addr = sandbox::parse_listen_address(std::string(a->GetString(), a->GetStringLength()));
      if (!addr.ok()) return invalid(field + ".address", addr.error().message);
      spec.address = *addr;
    }
    specs.push_back(spec);
  }
  return sandbox::port_forward_rules(specs, *defaults);
}

}  // namespace matchlock::rpc
