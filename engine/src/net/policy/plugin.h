// A policy plugin: one small method per pipeline phase, each with a default that abstains, so a
// plugin overrides only the phases it cares about. Plugins see Requests and Responses only.
#pragma once

#include <string_view>

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
};

}  // namespace matchlock::net::policy
