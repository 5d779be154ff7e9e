// One network event: an HTTP exchange the interception proxy carried (or refused), or a
// connection the policy blocked before any request. The one source of both the event log's
// `http_response` line and the rpc `event` notification of type `network`.
//
// Secrets: everything here is what the guest sent, never what went upstream. The path is the
// guest's own (it holds placeholders, never an injected value) without its query string or
// fragment (queries carry tokens); header values are never kept.
#pragma once

#include <cstdint>
#include <string>

#include "net/policy/event_sink.h"
#include "net/policy/request.h"

namespace matchlock::net::policy {

struct NetworkEvent {
  std::string method;        // the HTTP method; "" for a connection that is not an HTTP request
  std::string scheme;        // "https", "http"; "tls" or "tcp" for a blocked connection
  std::string host;          // the name the guest used ("" when it named none)
  std::string address;       // the destination address the guest aimed at ("" when unknown)
  uint16_t port = 0;         // the destination port (0: unknown)
  std::string path;          // the guest's path without query or fragment ("" for connections)
  uint64_t exchange_id = 0;  // ties the event log's lines together; 0 for connections
  int status = 0;            // the status the guest got; 0 when it got no HTTP answer
  uint64_t request_bytes = 0;
  uint64_t response_bytes = 0;
  int64_t duration_ms = 0;
  bool blocked = false;  // the policy refused it (not an upstream failure)
  std::string reason;    // why it was blocked, or why the exchange broke off; "" otherwise
};

// `host`, or the destination address when the guest named no host.
std::string network_event_host(const NetworkEvent& event);

// "https://api.example.com/v1/models", with ":port" when not the scheme's default;
// "tcp://10.0.0.5:22" for a raw connection.
std::string network_event_url(const NetworkEvent& event);

// The event log's `http_response` line for an exchange (docs/event-log.md).
Event http_response_event(const NetworkEvent& event);

// A connection or request the gate refused before the proxy saw it (StreamGate).
NetworkEvent blocked_connection_event(const Request& request, std::string reason);

// "/a/b?token=x#f" -> "/a/b": what events may say about a target.
std::string path_without_query(const std::string& target);

}  // namespace matchlock::net::policy
