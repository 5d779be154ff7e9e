// The policy pipeline: gate (all must allow) -> route (first directive wins) -> request
// transforms (chained) -> [request body: body transforms, then the body route] -> remote
// before_request -> response transforms (chained) -> remote after_response -> response body
// filters. It owns the plugin chain (built-in plugins, then remote plugins) and reports each
// decision to the EventSink; it knows nothing about connections.
//
// The body route exists because a route chosen from the head cannot see what the body asks
// for (the model router matches the JSON "model"): the proxy buffers the body when
// wants_request_body() says so and, before it dials, asks evaluate_body_route(); a RouteTo
// there replaces whatever evaluate_route() said.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/policy/decision.h"
#include "net/policy/event_sink.h"
#include "net/policy/plugin.h"
#include "net/policy/remote_plugin.h"

namespace matchlock::net::policy {

struct GateVerdict {
  bool allowed = false;
  std::string plugin;  // who decided (the denier, or the last plugin that allowed)
  std::string reason;
  int status = 403;  // denied HTTP requests: the denier's Deny::status
};

struct TransformVerdict {
  bool allowed = true;
  std::string plugin;  // set when denied
  std::string reason;
  int status = 403;  // when denied: the denier's Deny::status
};

class Pipeline {
 public:
  // `sink` may be null; it must outlive the pipeline.
  explicit Pipeline(EventSink* sink = nullptr) : sink_(sink) {}

  void add(std::unique_ptr<Plugin> plugin);
  void add_remote(std::unique_ptr<RemotePlugin> plugin);
  size_t size() const { return plugins_.size(); }
  // Plugins answered by other processes, in configuration order; the ExchangePolicy runs them
  // (asynchronously) after the built-in plugins of each phase. Shared: an answer may arrive
  // while the exchange that asked still holds the plugin.
  const std::vector<std::shared_ptr<RemotePlugin>>& remote_plugins() const { return remote_; }
  EventSink* sink() const { return sink_; }

  // Fails closed: if no plugin allows (all Continue), the request is denied.
  GateVerdict evaluate_gate(const Request& request) const;
  std::optional<RouteTo> evaluate_route(const Request& request) const;
  TransformVerdict apply_request_transforms(Request& request) const;
  TransformVerdict apply_response_transforms(const Request& request, Response& response) const;
  // Request bodies (plugin.h): whether any plugin needs this request's body, the body
  // transforms in plugin order, then the body route (reported as a route decision).
  bool wants_request_body(const Request& request) const;
  TransformVerdict apply_request_body_transforms(const Request& request, std::string& body) const;
  std::optional<RouteTo> evaluate_body_route(Request& request, std::string& body) const;
  // Whether any plugin may send requests to `host` elsewhere (Plugin::may_reroute).
  bool may_reroute(std::string_view host) const;

  // The response body filters of this exchange, in plugin order (the body flows through them
  // in that order).
  std::vector<std::unique_ptr<BodyFilter>> response_body_filters(const Request& request,
                                                                 const Response& response) const;

 private:
  void report(const char* phase, std::string_view plugin, const Request& request, bool allowed,
              const std::string& reason) const;

  EventSink* sink_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<std::shared_ptr<RemotePlugin>> remote_;
};

}  // namespace matchlock::net::policy
