#include "net/policy/plugin_registry.h"

#include "net/policy/plugins/budget_gate.h"
#include "net/policy/plugins/external_plugin.h"
#include "net/policy/plugins/host_filter.h"
#include "net/policy/plugins/interception_rules.h"
#include "net/policy/plugins/local_model_router.h"
#include "net/policy/plugins/sdk_callback.h"
#include "net/policy/plugins/secret_injector.h"
#include "net/policy/plugins/usage_logger.h"

namespace matchlock::net::policy {
namespace {

Result<std::unique_ptr<Plugin>> make_secret_injector(const PluginContext& context) {
  const auto& secrets = context.config.settings.secrets;
  if (secrets.empty()) return std::unique_ptr<Plugin>();
  auto made = SecretInjector::create(secrets, context.sink);
  if (!made.ok()) return made.error();
  return std::unique_ptr<Plugin>(std::move(*made));
}

// One line per plugin, in pipeline order (see the header for why this order).
constexpr PluginRegistration kBuiltinPlugins[] = {
    {"host_filter", &make_host_filter},
    {"budget_gate", &make_budget_gate},
    {"usage_logger", &make_usage_logger},
    {"interception_rules", &make_interception_rules},
    {"local_model_router", &make_local_model_router},
    {"secret_injector", &make_secret_injector},
};

constexpr RemotePluginRegistration kRemotePlugins[] = {
    {"sdk_callback", &make_sdk_callback},
    {"external_plugin", &make_external_plugins},
};

// Denies everything: what build_pipeline holds when the configuration was wrong.
class ConfigurationError : public Plugin {
 public:
  explicit ConfigurationError(std::string reason) : reason_(std::move(reason)) {}
  std::string_view name() const override { return "configuration_error"; }
  GateResult gate(const Request&) override { return Deny{reason_, 500}; }

 private:
  std::string reason_;
};

}  // namespace

std::span<const PluginRegistration> builtin_plugins() {
  return kBuiltinPlugins;
}

std::span<const RemotePluginRegistration> remote_plugin_kinds() {
  return kRemotePlugins;
}

Result<Pipeline> make_pipeline(const PolicyConfig& config, EventSink* sink) {
  std::shared_ptr<UsageLedger> usage;
  if (!config.settings.usage_log_path.empty()) {
    auto opened = UsageLedger::open(config.settings.usage_log_path);
    if (!opened.ok()) return opened.error().with_context("usage_logger");
    usage = std::move(*opened);
  }
  PluginContext context{config, sink, std::move(usage)};
  Pipeline pipeline(sink);
  for (const PluginRegistration& registration : kBuiltinPlugins) {
    auto plugin = registration.make(context);
    if (!plugin.ok()) return plugin.error().with_context(std::string(registration.name));
    pipeline.add(std::move(*plugin));
  }
  for (const RemotePluginRegistration& registration : kRemotePlugins) {
    auto plugins = registration.make(context);
    if (!plugins.ok()) return plugins.error().with_context(std::string(registration.name));
    for (auto& plugin : *plugins) pipeline.add_remote(std::move(plugin));
  }
  return pipeline;
}

Pipeline build_pipeline(const PolicyConfig& config, EventSink* sink) {
  auto made = make_pipeline(config, sink);
  if (made.ok()) return std::move(*made);
  Pipeline failed(sink);
  failed.add(std::make_unique<ConfigurationError>(made.error().message));
  return failed;
}

}  // namespace matchlock::net::policy
