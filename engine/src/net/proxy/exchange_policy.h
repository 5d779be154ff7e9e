// What the HTTP proxy asks of policy for every exchange (one request and its response), and
// what it reports back. The proxy (HTTP/1.1 and HTTP/2 sessions alike) knows framing,
// connections and TLS; everything it decides with is behind this interface, so it never sees a
// plugin, and plugins never see a connection.
//
// Asynchronous because some decisions wait on another process (policy/remote_plugin.h): each
// `done` is called exactly once on the loop thread, maybe later. The exchange is shared, so it
// outlives the wait; the proxy ignores an answer for a connection that has gone.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/policy/body_filter.h"
#include "net/policy/decision.h"
#include "net/policy/request.h"

namespace matchlock::net::proxy {

// A response the engine makes up itself instead of forwarding one: 403 (policy), 429 (budget),
// 400 (malformed or smuggling), 413 (body too large to transform), 502 (upstream failure).
struct Reply {
  int status = 403;
  std::string reason;  // why, for the body text and the event; never a secret value
};

struct Exchange {
  policy::Request request;  // as parsed; transforms change it in place
  // The target as the guest sent it, before any transform: what logs and events may show of
  // it (after secret injection the target may hold a secret's value).
  std::string original_target;
  policy::Response response;  // filled when the upstream's response head arrives
  // Set by on_request when the request is sent somewhere other than its own destination
  // (local_model_router: plain HTTP to a local backend).
  std::optional<policy::RouteTo> route;
  std::chrono::steady_clock::time_point started;
};

struct RequestOutcome {
  std::optional<Reply> reply;  // set: answer the guest with this; nothing goes upstream
  // Set: the proxy buffers the whole request body (bounded, else 413), calls this with it
  // (de-chunked) and sends the result with a fixed Content-Length. A Reply blocks.
  std::function<std::optional<Reply>(std::string& body)> rewrite_body;
};

struct ResponseOutcome {
  std::optional<Reply> reply;  // set: the guest gets this instead of the response
  std::vector<std::unique_ptr<policy::BodyFilter>> body_filters;  // applied in order
};

// How an exchange ended, for the event log and rpc `event` notifications.
struct ExchangeSummary {
  uint64_t request_bytes = 0;   // request body bytes sent upstream
  uint64_t response_bytes = 0;  // response body bytes sent to the guest
  std::chrono::milliseconds duration{0};
  std::optional<Reply> replied;  // the engine answered itself (blocked, 502, ...)
  std::string error;             // the exchange broke off (peer reset, ...); "" when complete
};

class ExchangePolicy {
 public:
  virtual ~ExchangePolicy() = default;

  // A request head from the guest: gate, route, request transforms. May change
  // exchange->request and set exchange->route.
  virtual void on_request(std::shared_ptr<Exchange> exchange,
                          std::function<void(RequestOutcome)> done) = 0;

  // The upstream's response head (in exchange->response): response transforms and filters.
  virtual void on_response(std::shared_ptr<Exchange> exchange,
                           std::function<void(ResponseOutcome)> done) = 0;

  // Once per exchange, last.
  virtual void on_finished(const Exchange& exchange, const ExchangeSummary& summary) = 0;
};

}  // namespace matchlock::net::proxy
