#include "net/policy/pipeline.h"

namespace matchlock::net::policy {

void Pipeline::add(std::unique_ptr<Plugin> plugin) {
  if (plugin) plugins_.push_back(std::move(plugin));
}

void Pipeline::add_remote(std::unique_ptr<RemotePlugin> plugin) {
  if (plugin) remote_.push_back(std::shared_ptr<RemotePlugin>(std::move(plugin)));
}

void Pipeline::report(const char* phase, std::string_view plugin, const Request& request,
                      bool allowed, const std::string& reason) const {
  if (sink_ == nullptr) return;
  PolicyEvent event;
  event.phase = phase;
  event.plugin = std::string(plugin);
  event.host = !request.host.empty() || !request.destination ? request.host
                                                             : request.destination->to_string();
  event.allowed = allowed;
  event.reason = reason;
  sink_->on_decision(event);
}

GateVerdict Pipeline::evaluate_gate(const Request& request) const {
  GateVerdict verdict;
  for (const auto& plugin : plugins_) {
    GateResult result = plugin->gate(request);
    if (auto* deny = std::get_if<Deny>(&result)) {
      report("gate", plugin->name(), request, false, deny->reason);
      return {false, std::string(plugin->name()), deny->reason, deny->status};
    }
    if (auto* allow = std::get_if<Allow>(&result)) {
      report("gate", plugin->name(), request, true, allow->reason);
      verdict = {true, std::string(plugin->name()), allow->reason};
    }
  }
  if (!verdict.allowed) {
    verdict = {false, "pipeline", "no gate plugin allowed this connection"};
    report("gate", verdict.plugin, request, false, verdict.reason);
  }
  return verdict;
}

std::optional<RouteTo> Pipeline::evaluate_route(const Request& request) const {
  for (const auto& plugin : plugins_) {
    RouteResult result = plugin->route(request);
    if (auto* route = std::get_if<RouteTo>(&result)) {
      report("route", plugin->name(), request, true, route->reason);
      return *route;
    }
  }
  return std::nullopt;
}

TransformVerdict Pipeline::apply_request_transforms(Request& request) const {
  for (const auto& plugin : plugins_) {
    TransformResult result = plugin->transform_request(request);
    if (auto* deny = std::get_if<Deny>(&result)) {
      report("request", plugin->name(), request, false, deny->reason);
      return {false, std::string(plugin->name()), deny->reason, deny->status};
    }
  }
  return {};
}

TransformVerdict Pipeline::apply_response_transforms(const Request& request,
                                                     Response& response) const {
  for (const auto& plugin : plugins_) {
    TransformResult result = plugin->transform_response(request, response);
    if (auto* deny = std::get_if<Deny>(&result)) {
      report("response", plugin->name(), request, false, deny->reason);
      return {false, std::string(plugin->name()), deny->reason, deny->status};
    }
  }
  return {};
}

bool Pipeline::wants_request_body(const Request& request) const {
  for (const auto& plugin : plugins_) {
    if (plugin->wants_request_body(request)) return true;
  }
  return false;
}

TransformVerdict Pipeline::apply_request_body_transforms(const Request& request,
                                                         std::string& body) const {
  for (const auto& plugin : plugins_) {
    if (!plugin->wants_request_body(request)) continue;
    TransformResult result = plugin->transform_request_body(request, body);
    if (auto* deny = std::get_if<Deny>(&result)) {
      report("request", plugin->name(), request, false, deny->reason);
      return {false, std::string(plugin->name()), deny->reason, deny->status};
    }
  }
  return {};
}

std::optional<RouteTo> Pipeline::evaluate_body_route(Request& request, std::string& body) const {
  for (const auto& plugin : plugins_) {
    RouteResult result = plugin->route_by_body(request, body);
    if (auto* route = std::get_if<RouteTo>(&result)) {
      report("route", plugin->name(), request, true, route->reason);
      return *route;
    }
  }
  return std::nullopt;
}

bool Pipeline::may_reroute(std::string_view host) const {
  for (const auto& plugin : plugins_) {
    if (plugin->may_reroute(host)) return true;
  }
  return false;
}

std::vector<std::unique_ptr<BodyFilter>> Pipeline::response_body_filters(
    const Request& request, const Response& response) const {
  std::vector<std::unique_ptr<BodyFilter>> filters;
  for (const auto& plugin : plugins_) {
    if (auto filter = plugin->response_body_filter(request, response)) {
      filters.push_back(std::move(filter));
    }
  }
  return filters;
}

}  // namespace matchlock::net::policy
