// The policy pipeline: gate (all must allow) -> route (first directive wins) -> request
// transforms (chained) -> response transforms (chained). It owns the plugin chain and reports
// each decision to the EventSink; it knows nothing about connections.
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
  size_t size() const { return plugins_.size(); }
  // Plugins answered by other processes; they run after the built-in plugins of each phase
  // (the ExchangePolicy chains them, asynchronously). Built elsewhere, only held here.
  void add_remote(std::shared_ptr<RemotePlugin> plugin);
  const std::vector<std::shared_ptr<RemotePlugin>>& remote_plugins() const { return remotes_; }
  EventSink* sink() const { return sink_; }

  // Fails closed: if no plugin allows (all Continue), the request is denied.
  GateVerdict evaluate_gate(const Request& request) const;
  std::optional<RouteTo> evaluate_route(const Request& request) const;
  TransformVerdict apply_request_transforms(Request& request) const;
  TransformVerdict apply_response_transforms(const Request& request, Response& response) const;
  // Request bodies: whether any plugin must see the whole body, then each such plugin's
  // rewrite in order (Deny stops).
  bool wants_request_body(const Request& request) const;
  TransformVerdict apply_request_body_transforms(const Request& request, std::string& body) const;
  // Each plugin's response body filter for this exchange, in plugin order.
  std::vector<std::unique_ptr<BodyFilter>> response_body_filters(const Request& request,
                                                                 const Response& response) const;

 private:
  void report(const char* phase, std::string_view plugin, const Request& request, bool allowed,
              const std::string& reason) const;

  EventSink* sink_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<std::shared_ptr<RemotePlugin>> remotes_;
};

}  // namespace matchlock::net::policy
