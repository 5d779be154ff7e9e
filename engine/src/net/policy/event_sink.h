// Receives every policy decision, for the event log (which serialises them) and for tests.
// Plugins may also report their own structured events (an injected secret, a blocked request)
// through on_event. Nothing sent here may carry a secret value: events end up in files the
// user shares.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace matchlock::net::policy {

struct NetworkEvent;  // network_event.h

struct PolicyEvent {
  std::string phase;   // "gate", "route", "request", "response"
  std::string plugin;  // plugin name, or "pipeline" for its own fall-through decision
  std::string host;
  bool allowed = false;
  std::string reason;
};

// The event log's event types (rpc-schema/event-log.schema.json).
enum class EventType {
  kGateDecision,
  kRouteDecision,
  kRequestTransform,
  kResponseTransform,
  kHttpRequest,
  kHttpResponse,
};

constexpr std::string_view event_type_name(EventType type) {
  switch (type) {
    case EventType::kGateDecision:
      return "gate_decision";
    case EventType::kRouteDecision:
      return "route_decision";
    case EventType::kRequestTransform:
      return "request_transform";
    case EventType::kResponseTransform:
      return "response_transform";
    case EventType::kHttpRequest:
      return "http_request";
    case EventType::kHttpResponse:
      return "http_response";
  }
  return "unknown";
}

struct EventField {
  std::string key;
  std::variant<std::string, int64_t, bool> value;
};

// One structured event: what happened, who reported it, a one-line summary, free tags and
// typed details (the event log's `data` object, in this order).
struct Event {
  EventType type = EventType::kGateDecision;
  std::string plugin;
  std::string summary;
  std::vector<std::string> tags;
  std::vector<EventField> data;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called on the loop thread, synchronously; must not block.
  virtual void on_decision(const PolicyEvent& event) = 0;
  // A plugin's own event; same thread rules. Sinks that only follow decisions ignore these.
  virtual void on_event(const Event& event) {}
  // An HTTP exchange ended, or a connection was blocked (for rpc `event` notifications; the
  // exchange's event-log line comes through on_event). Same thread rules.
  virtual void on_network(const NetworkEvent& event) {}
};

}  // namespace matchlock::net::policy
