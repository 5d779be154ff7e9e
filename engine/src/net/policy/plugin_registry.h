// Built-in plugins and how a pipeline is assembled from the sandbox's policy configuration.
//
// Adding a plugin: write plugins/<name>.{h,cpp} with a factory, then add one line to
// kBuiltinPlugins in plugin_registry.cpp. Registration is an explicit table rather than static
// self-registration because the engine is a static library: the linker drops object files
// nothing references, and with them any self-registering globals.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "net/policy/allow_list.h"
#include "net/policy/pipeline.h"
#include "net/policy/private_ranges.h"

namespace matchlock::net::policy {

// Everything plugins may be configured from. Shared pointers because the rpc layer mutates
// the allow-list at runtime (allow_list_add/delete) while the pipeline uses it; both live on
// the loop thread.
struct PolicyConfig {
  std::shared_ptr<AllowList> allow_list;
  std::shared_ptr<const PrivateRangePolicy> private_ranges;
};

// Returns nullptr when the configuration does not call for this plugin.
using PluginFactory = std::unique_ptr<Plugin> (*)(const PolicyConfig& config);

struct PluginRegistration {
  std::string_view name;
  PluginFactory make;
};

// In pipeline order.
std::span<const PluginRegistration> builtin_plugins();

// One pipeline per sandbox; `sink` may be null and must outlive the pipeline.
Pipeline build_pipeline(const PolicyConfig& config, EventSink* sink);

}  // namespace matchlock::net::policy
