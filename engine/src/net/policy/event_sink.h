// Receives every policy decision, for the event log (which serialises them) and for tests.
#pragma once

#include <string>

namespace matchlock::net::policy {

struct PolicyEvent {
  std::string phase;   // "gate", "route", "request", "response"
  std::string plugin;  // plugin name, or "pipeline" for its own fall-through decision
  std::string host;
  bool allowed = false;
  std::string reason;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called on the loop thread, synchronously; must not block.
  virtual void on_decision(const PolicyEvent& event) = 0;
};

}  // namespace matchlock::net::policy
