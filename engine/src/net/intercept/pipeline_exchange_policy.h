// The ExchangePolicy of interception mode: every HTTP exchange the proxy sees goes through the
// sandbox's policy Pipeline - gate (a Deny's status is the guest's answer: 403, 429, ...),
// route, request transforms, then the remote plugins' before_request in order (async), then
// the request-body phase; for the response: transforms, the remote plugins' after_response,
// and each plugin's response body filter. Reports `http_request` and `http_response` events to
// the pipeline's EventSink, and each finished exchange as a NetworkEvent (the source of the
// `http_response` line and of rpc `event` notifications).
//
// What events carry: method, host, the path WITHOUT its query, the exchange id, status, byte
// counts, duration, blocked and the reason. Never a header value or a query string: secrets
// travel in both, and the event log is a file users share.
#pragma once

#include "net/policy/network_event.h"
#include "net/policy/pipeline.h"
#include "net/proxy/exchange_policy.h"

namespace matchlock::net {

class PipelineExchangePolicy final : public proxy::ExchangePolicy {
 public:
  // `pipeline` must outlive this policy.
  explicit PipelineExchangePolicy(const policy::Pipeline& pipeline) : pipeline_(pipeline) {}

  void on_request(std::shared_ptr<proxy::Exchange> exchange,
                  std::function<void(proxy::RequestOutcome)> done) override;
  void on_response(std::shared_ptr<proxy::Exchange> exchange,
                   std::function<void(proxy::ResponseOutcome)> done) override;
  void on_finished(const proxy::Exchange& exchange, const proxy::ExchangeSummary& summary) override;

 private:
  void run_remote_requests(std::shared_ptr<proxy::Exchange> exchange, size_t index,
                           std::function<void(proxy::RequestOutcome)> done);
  void finish_request(const std::shared_ptr<proxy::Exchange>& exchange,
                      std::function<void(proxy::RequestOutcome)> done);
  void run_remote_responses(std::shared_ptr<proxy::Exchange> exchange, size_t index,
                            std::shared_ptr<proxy::ResponseOutcome> outcome,
                            std::function<void(proxy::ResponseOutcome)> done);
  void emit(policy::Event event) const;

  const policy::Pipeline& pipeline_;
};

}  // namespace matchlock::net
