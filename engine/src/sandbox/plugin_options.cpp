#include "sandbox/plugin_options.h"

#include <arpa/inet.h>

#include <cmath>
#include <cstdlib>

#include "core/value_parsers.h"
#include "net/policy/plugins/local_model_router.h"

namespace matchlock::sandbox {
namespace {

constexpr size_t kMaxLabelLength = 128;
std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_ip_literal(const std::string& s) {
  unsigned char addr[16];
  return inet_pton(AF_INET, s.c_str(), addr) == 1 || inet_pton(AF_INET6, s.c_str(), addr) == 1;
}

// A host name (RFC 1123) or an IP literal.
bool is_host(const std::string& host) {
  return is_ip_literal(host) || validate_hostname(host).ok();
}

}  // namespace

bool PluginOptions::any() const {
  return !local_model_backend.empty() || !model_routes.empty() || !usage_log_path.empty() ||
         budget_limit_usd.has_value() || !plugin_config_path.empty() ||
         !interception_rules_json.empty() || !callback_socket.empty() || !event_log_path.empty() ||
         !agent_system.empty() || !run_id.empty();
}

Result<std::pair<std::string, uint16_t>> parse_host_port(std::string_view text,
                                                         std::string_view what) {
  std::string prefix = std::string(what) + " \"" + std::string(text) + "\": ";
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return invalid_argument(prefix + "expected HOST:PORT");
  std::string host(text.substr(0, colon));
  std::string_view port_text = text.substr(colon + 1);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    unsigned char addr[16];
    if (inet_pton(AF_INET6, host.c_str(), addr) != 1)
      return invalid_argument(prefix + "the bracketed host is not an IPv6 address");
  } else if (host.empty() || !is_host(host) || host.find(':') != std::string::npos) {
    return invalid_argument(prefix + "expected a host name or IP address before ':PORT'");
  }
  char* end = nullptr;
  std::string port_str(port_text);
  long port = port_str.empty() ? 0 : std::strtol(port_str.c_str(), &end, 10);
  if (port_str.empty() || *end != 0 || port < 1 || port > 65535 ||
      port_str.find_first_not_of("0123456789") != std::string::npos)
    return invalid_argument(prefix + "the port must be 1..65535");
  return std::make_pair(lowercase(host), static_cast<uint16_t>(port));
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
