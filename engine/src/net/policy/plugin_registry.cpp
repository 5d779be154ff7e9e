#include "net/policy/plugin_registry.h"

#include "net/policy/plugins/host_filter.h"

namespace matchlock::net::policy {
namespace {

// One line per plugin, in pipeline order.
constexpr PluginRegistration kBuiltinPlugins[] = {
    {"host_filter", &make_host_filter},
};

}  // namespace

std::span<const PluginRegistration> builtin_plugins() {
  return kBuiltinPlugins;
}

Pipeline build_pipeline(const PolicyConfig& config, EventSink* sink) {
  Pipeline pipeline(sink);
  for (const PluginRegistration& registration : kBuiltinPlugins) {
    pipeline.add(registration.make(config));
  }
  return pipeline;
}

}  // namespace matchlock::net::policy
