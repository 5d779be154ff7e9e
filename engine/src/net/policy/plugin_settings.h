// What the user configured the interception plugins with (flags, rpc `create`, the plugin
// configuration file), validated, in one structure the plugin registry builds the pipeline
// from. Holds secret values: never log, record or serialize it (sandbox/options_record.h
// records the redacted form).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "net/policy/plugins/secret_injector.h"

namespace matchlock::net::policy {

// --local-model-route SOURCE_HOST/SOURCE_MODEL=TARGET_MODEL[@HOST:PORT]
struct ModelRoute {
  std::string source_host;   // normalized host name the guest's request goes to
  std::string source_model;  // the JSON body's "model" to match (exact)
  std::string target_model;  // what "model" becomes
  std::string backend_host;  // "" = PluginSettings::local_model_backend
  uint16_t backend_port = 0;
};

// A custom plugin: an external process speaking JSON lines on stdin/stdout.
struct ExternalPluginSpec {
  std::string name;
  std::vector<std::string> argv;    // argv[0] absolute or found on PATH
  std::vector<std::string> phases;  // subset of "gate", "request", "response"
  uint32_t timeout_ms = 2000;
};

struct PluginSettings {
  std::vector<InjectedSecret> secrets;
  std::string local_model_backend;  // "HOST:PORT" for routes without their own @HOST:PORT
  std::vector<ModelRoute> model_routes;
  std::string usage_log_path;              // "" = no usage_logger
  std::optional<double> budget_limit_usd;  // requires usage_log_path
  std::vector<ExternalPluginSpec> external_plugins;
  // rpc `create`'s network.interception: the rules as received (JSON text, validated when the
  // sandbox is created) and the SDK's callback socket path ("" = none).
  std::string interception_rules_json;
  std::string callback_socket;
};

}  // namespace matchlock::net::policy
