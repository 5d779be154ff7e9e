// A plugin answered by another process: an SDK's network-hook callback socket, or a custom
// plugin process speaking JSON lines. Its answer comes later, so it is asynchronous; it runs
// after the built-in (synchronous) plugins of the same phase, in configuration order.
//
// Fail closed: a remote plugin that does not answer within its deadline, answers garbage or
// dies denies the request (or the response) with a reason naming it. `done` is called exactly
// once, on the loop thread, possibly after the exchange was abandoned (the caller keeps its
// own liveness token and ignores late answers).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "net/policy/body_filter.h"
#include "net/policy/decision.h"
#include "net/policy/request.h"

namespace matchlock::net::policy {

struct ResponseStep {
  std::optional<Deny> deny;            // set: the guest gets this instead of the response
  std::unique_ptr<BodyFilter> filter;  // set: appended to the exchange's response filters
};

class RemotePlugin {
 public:
  virtual ~RemotePlugin() = default;
  virtual std::string_view name() const = 0;

  // Before the request goes upstream; may change `request` (headers, target) in place before
  // calling done. Continue = go on, Deny = blocked.
  virtual void before_request(std::shared_ptr<Request> request,
                              std::function<void(TransformResult)> done) = 0;

  // After the response head arrived; may change `response` (status is read-only, headers not).
  virtual void after_response(std::shared_ptr<const Request> request,
                              std::shared_ptr<Response> response,
                              std::function<void(ResponseStep)> done) = 0;
};

}  // namespace matchlock::net::policy
