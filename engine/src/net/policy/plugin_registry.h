// Built-in plugins and how a pipeline is assembled from the sandbox's policy configuration.
//
// Adding a plugin: write plugins/<name>.{h,cpp} with a factory, then add one line to
// kBuiltinPlugins (or kRemotePlugins) in plugin_registry.cpp. Registration is an explicit table
// rather than static self-registration because the engine is a static library: the linker
// drops object files nothing references, and with them any self-registering globals.
//
// Pipeline order (built-in, synchronous):
//   host_filter          gate: the allow-list and private ranges (always first)
//   budget_gate          gate: 429 once the usage log's spend reached the limit
//   usage_logger         response body filter; first, so it reads the body as upstream sent it
//   interception_rules   before-rules (block/mutate the request), after-rules (block/mutate the
//                        response head, body replacements)
//   local_model_router   body route: POSTs whose JSON "model" matches go to the local backend
//   secret_injector      the last request transform: placeholders become values only after
//                        every rule and router has had its say
// then the remote plugins (asynchronous, after the built-ins of each phase): sdk_callback,
// then every external plugin in configuration order. They see requests with secret values
// turned back into placeholders (secret_redactor.h).
#pragma once

#include <uv.h>

#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/allow_list.h"
#include "net/policy/pipeline.h"
#include "net/policy/plugin_settings.h"
#include "net/policy/private_ranges.h"
#include "net/policy/usage_ledger.h"

namespace matchlock::net::policy {

// Everything plugins may be configured from. Shared pointers because the rpc layer mutates
// the allow-list at runtime (allow_list_add/delete) while the pipeline uses it; both live on
// the loop thread.
struct PolicyConfig {
  std::shared_ptr<AllowList> allow_list;
  std::shared_ptr<const PrivateRangePolicy> private_ranges;
  PluginSettings settings{};
  // The sandbox's loop, which remote plugins run on; configuring one without a loop is a
  // factory error. Must outlive the pipeline.
  uv_loop_t* loop = nullptr;
};

// What a factory gets: the configuration and the per-pipeline shared state.
struct PluginContext {
  const PolicyConfig& config;
  EventSink* sink;                     // may be null
  std::shared_ptr<UsageLedger> usage;  // set when settings.usage_log_path is
};

// A null plugin (no error) when the configuration does not call for this plugin.
using PluginFactory = Result<std::unique_ptr<Plugin>> (*)(const PluginContext& context);
using RemotePluginFactory =
    Result<std::vector<std::unique_ptr<RemotePlugin>>> (*)(const PluginContext& context);

struct PluginRegistration {
  std::string_view name;
  PluginFactory make;
};

struct RemotePluginRegistration {
  std::string_view name;
  RemotePluginFactory make;
};

// In pipeline order.
std::span<const PluginRegistration> builtin_plugins();
std::span<const RemotePluginRegistration> remote_plugin_kinds();

// One pipeline per sandbox; `sink` may be null and must outlive the pipeline. Errors name the
// plugin whose configuration is wrong (a budget without a usage log, a plugin command that
// cannot start, malformed interception rules, an unwritable usage log).
Result<Pipeline> make_pipeline(const PolicyConfig& config, EventSink* sink);

// make_pipeline for callers that cannot report an error: a configuration error yields a
// pipeline that denies everything, naming the error (fail closed, never a missing plugin).
Pipeline build_pipeline(const PolicyConfig& config, EventSink* sink);

}  // namespace matchlock::net::policy
