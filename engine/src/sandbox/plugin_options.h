// The interception plugins' options as the user gives them (run flags, rpc `create`), checked
// before anything is created. They hold no secret values (those are SandboxOptions::secrets)
// and are recorded in the state database as they are (sandbox/options_record.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/plugin_settings.h"

namespace matchlock::sandbox {

struct PluginOptions {
  std::string local_model_backend;  // "HOST:PORT" for routes without their own @HOST:PORT
  std::vector<net::policy::ModelRoute> model_routes;
  std::string usage_log_path;              // "" = no usage log
  std::optional<double> budget_limit_usd;  // requires usage_log_path
  std::string plugin_config_path;          // stored only; read when the plugins are built
  // rpc network.interception: the rules as received (a JSON array; checked by the plugin that
  // runs them) and the SDK's callback socket ("" = none).
  std::string interception_rules_json;
  std::string callback_socket;
  std::string event_log_path;  // "" = no event log
  std::string agent_system;    // written on every event-log line
  std::string run_id;          // written on every event-log line; "" = the sandbox id

  // Whether any plugin option is set: each of them needs interception mode.
  bool any() const;
};

// --local-model-backend HOST:PORT ("[v6]:PORT" for an IPv6 literal): a host name or IP, port
// 1..65535, in the grammar of the plugin that uses it. Errors start with
// "--local-model-backend".
Result<std::pair<std::string, uint16_t>> parse_model_backend_spec(std::string_view text);

// --local-model-route SOURCE_HOST/SOURCE_MODEL=TARGET_MODEL[@HOST:PORT]. The source host is a
// host name (lowercased), the models are non-empty and free of whitespace; without @HOST:PORT
// the route uses --local-model-backend. Errors start with "--local-model-route".
Result<net::policy::ModelRoute> parse_model_route_spec(std::string_view spec);

// Cross-checks after every flag was read: --budget-limit-usd needs --usage-log-path, and each
// route needs a backend (its own or --local-model-backend).
Status validate_plugin_options(const PluginOptions& o);

// --budget-limit-usd: a finite number > 0.
Result<double> parse_budget_usd(std::string_view text, std::string_view what);

// --agent-system and --run-id: 1..128 of [A-Za-z0-9._:-] (they go into every event-log line).
Status validate_label(std::string_view text, std::string_view what);

}  // namespace matchlock::sandbox
