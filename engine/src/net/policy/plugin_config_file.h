// The plugin configuration file (--plugin-config FILE): the interception plugins described in
// one JSON document instead of (or on top of) flags.
//
//   {"plugins": [
//     {"type": "local_model_router", "backend": "127.0.0.1:11434",
//      "routes": ["api.openai.com/gpt-4o=llama3:8b",
//      "openrouter.ai/meta-llama/llama-3-8b=l3@10.0.0.5:8080"]},
//     {"type": "usage_logger", "path": "/home/me/usage.jsonl"},
//     {"type": "budget_gate", "limit_usd": 5.0},
//     {"type": "interception_rules", "rules": [ ...rpc wire rules, interception_rule.h... ]},
//     {"type": "external", "name": "audit", "command": ["/usr/local/bin/audit-plugin", "-v"],
//      "phases": ["gate", "response"], "timeout_ms": 2000}
//   ]}
//
// Routes use the --local-model-route grammar. Every member is checked: an unknown plugin type
// or member is an error (a typo must not silently disable a budget). Merged into `base` (what
// flags and rpc gave): lists are appended after base's entries; a scalar the file sets must be
// unset in base or equal to it.
//
// Secrets are refused here ("secrets" member or type "secret"): configuration files get
// committed, copied and shared, and a secret in one leaks with it. Secrets come from --secret
// (values from the host environment) or rpc only.
//
// Errors are kInvalidArgument, one line: "plugin config FILE: plugins[2].limit_usd: ...".
#pragma once

#include <string>

#include "core/result.h"
#include "net/policy/plugin_settings.h"

namespace matchlock::net::policy {

constexpr size_t kMaxPluginConfigBytes = 1024 * 1024;

Result<PluginSettings> load_plugin_config(const std::string& path, PluginSettings base);

// The same from text already read (`path` names it in errors).
Result<PluginSettings> parse_plugin_config(std::string_view text, const std::string& path,
                                           PluginSettings base);

}  // namespace matchlock::net::policy
