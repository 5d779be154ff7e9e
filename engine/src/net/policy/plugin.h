// A policy plugin: one small method per pipeline phase, each with a default that abstains, so a
// plugin overrides only the phases it cares about. Plugins see Requests and Responses only.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "net/policy/body_filter.h"
#include "net/policy/decision.h"
#include "net/policy/request.h"

namespace matchlock::net::policy {

class Plugin {
 public:
  virtual ~Plugin() = default;

  // Stable name, used in events and logs ("host_filter").
  virtual std::string_view name() const = 0;

  // Gate: Allow, Deny{reason} or Continue. All gate plugins run until one denies.
  virtual GateResult gate(const Request& request) { return Continue{}; }
  // Route: the first RouteTo wins.
  virtual RouteResult route(const Request& request) { return Continue{}; }
  // Transforms run in order, each seeing the previous one's output; Deny stops the request.
  virtual TransformResult transform_request(Request& request) { return Continue{}; }
  virtual TransformResult transform_response(const Request& request, Response& response) {
    return Continue{};
  }

  // Request bodies. A plugin that must read or rewrite the whole request body (the model
  // router rewrites the JSON "model") says so after the request transforms; the proxy then
  // buffers the body (bounded: a larger body gets 413) and calls transform_request_body
  // before anything goes upstream. `body` is already de-chunked; the proxy fixes the framing.
  virtual bool wants_request_body(const Request& request) const { return false; }
  // True when requests to `host` may be sent elsewhere (a body route). One HTTP/2 connection
  // to the guest carries streams to a single upstream, so the proxy then speaks HTTP/1.1 with
  // the guest for that host, where every request can go its own way.
  virtual bool may_reroute(std::string_view host) const { return false; }
  virtual TransformResult transform_request_body(const Request& request, std::string& body) {
    return Continue{};
  }
  // Routing that depends on the body (the model router routes by the JSON "model"): asked
  // after every transform_request_body, only for requests some plugin wanted the body of. The
  // first RouteTo wins and overrides the head-time route(); the plugin may rewrite `body` and
  // `request` only when it returns RouteTo (a route and its rewrite are one decision).
  virtual RouteResult route_by_body(Request& request, std::string& body) { return Continue{}; }

  // Response bodies: a filter for this exchange's response body, or nullptr. Called after the
  // response transforms, in plugin order; the body flows through the filters in that order.
  virtual std::unique_ptr<BodyFilter> response_body_filter(const Request& request,
                                                           const Response& response) {
    return nullptr;
  }
};

}  // namespace matchlock::net::policy
