// sdk_callback: the SDK's network hooks. For each rule with a callback_id that matches the
// exchange, in rule order, the engine connects to PluginSettings::callback_socket (a unix
// stream socket the SDK listens on), writes one JSON line, reads one JSON line, closes.
//
// Request (omitempty except callback_id and phase; query: first value per key; the last three
// only in the after phase; is_sse: the response Content-Type is text/event-stream):
//   {"callback_id":"network_hook_1","phase":"after","host":"api.example.com","method":"GET",
//    "path":"/v1/models","query":{"limit":"5"},"request_headers":{"Accept":["*/*"]},
//    "status_code":200,"response_headers":{"Content-Type":["application/json"]},"is_sse":false}
// Answer:
//   {"action":"allow|block|mutate","request":{"headers":{..},"query":{..},"path":"/v2"},
//    "response":{"headers":{..},"body_replacements":[{"find":"a","replace":"b"}],
//    "set_body_base64":"e30="},"error":""}
//   block => 403. headers / query are full replacements when present (null = absent); path
//   rewrites when non-empty; set_body_base64 replaces the whole body, then the replacements
//   apply. Host is never sent among request_headers and survives a header replacement.
//
// Fail closed (unlike the SDK reference, which ignores failures): a refused connection, the
// rule's timeout_ms (kDefaultTimeoutMs when 0), a malformed answer or a non-empty "error"
// deny the request (or response) with a reason naming the callback.
//
// Secrets: remote plugins run after secret_injector, so everything sent passes through the
// SecretRedactor (values become placeholders again). A replaced header or query value that
// comes back equal to its redacted form gets its real value back; anything else the SDK
// writes is taken as written.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "net/policy/interception_rule.h"
#include "net/policy/remote_plugin.h"
#include "net/policy/secret_redactor.h"

namespace matchlock::net::policy {

struct PluginContext;

class SdkCallback : public RemotePlugin {
 public:
  static constexpr uint32_t kDefaultTimeoutMs = 30'000;

  // Only the rules with a callback_id are kept. `loop` must outlive the plugin.
  SdkCallback(uv_loop_t* loop, std::string socket_path, std::vector<InterceptionRule> rules,
              SecretRedactor redactor);

  std::string_view name() const override { return "sdk_callback"; }
  void before_request(std::shared_ptr<Request> request,
                      std::function<void(TransformResult)> done) override;
  void after_response(std::shared_ptr<const Request> request, std::shared_ptr<Response> response,
                      std::function<void(ResponseStep)> done) override;

  // The request line for one rule (exposed for tests).
  std::string request_line(const InterceptionRule& rule, const Request& request,
                           const Response* response) const;

  struct Shared;  // the rules and the socket, shared with calls in flight

 private:
  std::shared_ptr<Shared> shared_;
};

// nullptr without callback rules; kInvalidArgument for callback rules without a socket (or
// without a loop).
Result<std::vector<std::unique_ptr<RemotePlugin>>> make_sdk_callback(const PluginContext& context);

}  // namespace matchlock::net::policy
