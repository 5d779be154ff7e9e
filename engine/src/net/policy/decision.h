// The explicit results a plugin returns, one small set per phase.
#pragma once

#include <cstdint>
#include <string>
#include <variant>

namespace matchlock::net::policy {

struct Continue {};  // no opinion: the next plugin decides
struct Allow {
  std::string reason;
};
struct Deny {
  std::string reason;
  // What the guest gets when an HTTP request is denied: 403 "Blocked by policy" unless a plugin
  // says otherwise (budget_gate answers 429). Connection-level denials ignore it.
  int status = 403;
};
struct RouteTo {
  std::string host;  // where to send the request instead of its own host
  uint16_t port = 0;
  bool tls = false;
  std::string reason;
};

using GateResult = std::variant<Continue, Allow, Deny>;
using RouteResult = std::variant<Continue, RouteTo>;
using TransformResult = std::variant<Continue, Deny>;

}  // namespace matchlock::net::policy
