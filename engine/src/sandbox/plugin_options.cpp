#include "sandbox/plugin_options.h"

#include <cmath>
#include <cstdlib>

#include "net/policy/plugins/local_model_router.h"

namespace matchlock::sandbox {
namespace {

constexpr size_t kMaxLabelLength = 128;

}  // namespace

bool PluginOptions::any() const {
  return !local_model_backend.empty() || !model_routes.empty() || !usage_log_path.empty() ||
         budget_limit_usd.has_value() || !plugin_config_path.empty() ||
         !interception_rules_json.empty() || !callback_socket.empty() || !event_log_path.empty() ||
         !agent_system.empty() || !run_id.empty();
}

Result<std::pair<std::string, uint16_t>> parse_model_backend_spec(std::string_view text) {
  auto parsed = net::policy::parse_model_backend(text);
  if (!parsed.ok()) return parsed.error();
  return std::make_pair(parsed->host, parsed->port);
}

Result<net::policy::ModelRoute> parse_model_route_spec(std::string_view spec) {
  // One grammar for flags, rpc and the plugin config file: the plugin's own parser.
  return net::policy::parse_model_route(spec);
}

Result<double> parse_budget_usd(std::string_view text, std::string_view what) {
  std::string s(text);
  char* end = nullptr;
  double n = s.empty() ? 0 : std::strtod(s.c_str(), &end);
  if (s.empty() || *end != 0 || !std::isfinite(n) || n <= 0)
    return invalid_argument(std::string(what) + " \"" + s +
                            "\": expected a number of US dollars > 0");
  return n;
}

Status validate_label(std::string_view text, std::string_view what) {
  bool ok = !text.empty() && text.size() <= kMaxLabelLength;
  for (char c : text) {
    bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '.' || c == '_' || c == ':' || c == '-';
    ok = ok && allowed;
  }
  if (ok) return {};
  return invalid_argument(std::string(what) + ": expected 1.." + std::to_string(kMaxLabelLength) +
                          " letters, digits, '.', '_', ':' or '-'");
}

Status validate_plugin_options(const PluginOptions& o) {
  if (o.budget_limit_usd && o.usage_log_path.empty())
    return invalid_argument(
        "--budget-limit-usd needs --usage-log-path (spending is counted there)");
  for (const auto& route : o.model_routes) {
    if (route.backend_host.empty() && o.local_model_backend.empty()) {
      return invalid_argument("--local-model-route " + route.source_host + "/" +
                              route.source_model +
                              ": no backend (add @HOST:PORT or --local-model-backend)");
    }
  }
  return {};
}

}  // namespace matchlock::sandbox
