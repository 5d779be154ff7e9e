// The seam between the network core (link, lwIP, relays) and the policy pipeline
// (engine/src/net/policy/). NAT mode runs with no hook; interception mode plugs one in, and
// every guest TCP connection and DNS question is then decided here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "net/policy/request.h"

namespace matchlock::net {

namespace proxy {
class MitmServices;
}

struct DnsVerdict {
  enum class Action { kForward, kAnswer, kDrop };
  Action action = Action::kDrop;
  std::string message;  // kForward: the query to send upstream; kAnswer: the guest's reply
};

struct GateDecision {
  bool allowed = false;
  std::string reason;
};

class PolicyHook {
 public:
  virtual ~PolicyHook() = default;
  // A DNS query from the guest: forward (possibly rewritten), answer locally (sinkhole), drop.
  virtual DnsVerdict dns_query(const std::string& query) = 0;
  // An upstream reply to `forwarded`: the reply for the guest, or none (dropped).
  virtual std::optional<std::string> dns_reply(const std::string& forwarded, std::string reply) = 0;
  // One connection (TLS, raw) or one HTTP request.
  virtual GateDecision gate(const policy::Request& request) = 0;
  // The exact address about to be dialled (host order) for a connection or request naming
  // `host` (empty: none). False refuses it: a private range, or a name the address was never
  // given for (a Host or SNI that does not match the guest's destination is not trusted).
  virtual bool may_dial(uint32_t ip, const std::string& host) = 0;
  // A connection (or, without the proxy, an HTTP request) refused before any proxy saw it:
  // reported as a blocked network event. `request` is what the gate or the dial check judged.
  virtual void connection_blocked(const policy::Request& /*request*/, const std::string& /*why*/) {}
  // TLS interception (the HTTP proxy): null when there is none (NAT mode, or interception
  // without a CA), and then TLS is gated on its SNI and relayed as it is.
  virtual proxy::MitmServices* mitm() { return nullptr; }
};

}  // namespace matchlock::net
