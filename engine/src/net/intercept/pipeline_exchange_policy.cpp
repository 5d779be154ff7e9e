#include "net/intercept/pipeline_exchange_policy.h"

namespace matchlock::net {
namespace {

using policy::path_without_query;

proxy::RequestOutcome refused(int status, std::string reason) {
  proxy::RequestOutcome outcome;
  outcome.reply = proxy::Reply{status, std::move(reason)};
  return outcome;
}

}  // namespace

void PipelineExchangePolicy::emit(policy::Event event) const {
  if (auto* sink = pipeline_.sink()) sink->on_event(event);
}

void PipelineExchangePolicy::on_request(std::shared_ptr<proxy::Exchange> exchange,
                                        std::function<void(proxy::RequestOutcome)> done) {
  auto& request = exchange->request;
  exchange->original_target = request.target;
  policy::Event event;
  event.type = policy::EventType::kHttpRequest;
  event.plugin = "proxy";
  event.summary = request.method + " " + request.host + path_without_query(request.target);
  event.data = {{"method", request.method},
                {"host", request.host},
                {"path", path_without_query(request.target)},
                {"exchange_id", static_cast<int64_t>(request.exchange_id)}};
  emit(std::move(event));

  auto gate = pipeline_.evaluate_gate(request);
  if (!gate.allowed) return done(refused(gate.status, gate.reason));
  exchange->route = pipeline_.evaluate_route(request);
  auto transformed = pipeline_.apply_request_transforms(request);
  if (!transformed.allowed) return done(refused(transformed.status, transformed.reason));
  run_remote_requests(std::move(exchange), 0, std::move(done));
}

// One remote plugin at a time, each seeing the previous one's changes.
void PipelineExchangePolicy::run_remote_requests(std::shared_ptr<proxy::Exchange> exchange,
                                                 size_t index,
                                                 std::function<void(proxy::RequestOutcome)> done) {
  const auto& remotes = pipeline_.remote_plugins();
  if (index >= remotes.size()) return finish_request(exchange, std::move(done));
  // Shares the exchange's ownership, so the request lives as long as the plugin holds it.
  std::shared_ptr<policy::Request> request(exchange, &exchange->request);
  remotes[index]->before_request(
      request, [this, exchange, index, done = std::move(done)](policy::TransformResult r) mutable {
        if (auto* deny = std::get_if<policy::Deny>(&r)) {
          return done(refused(deny->status, deny->reason));
        }
        run_remote_requests(std::move(exchange), index + 1, std::move(done));
      });
}

void PipelineExchangePolicy::finish_request(const std::shared_ptr<proxy::Exchange>& exchange,
                                            std::function<void(proxy::RequestOutcome)> done) {
  proxy::RequestOutcome outcome;
  if (pipeline_.wants_request_body(exchange->request)) {
    // The request as transformed: the body rewrite sees what goes upstream.
    outcome.rewrite_body = [this, exchange](std::string& body) -> std::optional<proxy::Reply> {
      auto verdict = pipeline_.apply_request_body_transforms(exchange->request, body);
      if (!verdict.allowed) return proxy::Reply{verdict.status, verdict.reason};
      // A route chosen from the body (the model router) replaces one chosen from the head.
      if (auto route = pipeline_.evaluate_body_route(exchange->request, body)) {
        exchange->route = std::move(route);
      }
      return std::nullopt;
    };
  }
  done(std::move(outcome));
}

void PipelineExchangePolicy::on_response(std::shared_ptr<proxy::Exchange> exchange,
                                         std::function<void(proxy::ResponseOutcome)> done) {
  auto verdict = pipeline_.apply_response_transforms(exchange->request, exchange->response);
  if (!verdict.allowed) {
    proxy::ResponseOutcome outcome;
    outcome.reply = proxy::Reply{verdict.status, verdict.reason};
    return done(std::move(outcome));
  }
  auto outcome = std::make_shared<proxy::ResponseOutcome>();
  outcome->body_filters = pipeline_.response_body_filters(exchange->request, exchange->response);
  run_remote_responses(std::move(exchange), 0, std::move(outcome), std::move(done));
}

void PipelineExchangePolicy::run_remote_responses(
    std::shared_ptr<proxy::Exchange> exchange, size_t index,
    std::shared_ptr<proxy::ResponseOutcome> outcome,
    std::function<void(proxy::ResponseOutcome)> done) {
  const auto& remotes = pipeline_.remote_plugins();
  if (index >= remotes.size()) return done(std::move(*outcome));
  std::shared_ptr<const policy::Request> request(exchange, &exchange->request);
  std::shared_ptr<policy::Response> response(exchange, &exchange->response);
  remotes[index]->after_response(
      request, response,
      [this, exchange, index, outcome, done = std::move(done)](policy::ResponseStep step) mutable {
        if (step.deny) {
          proxy::ResponseOutcome refused;
          refused.reply = proxy::Reply{step.deny->status, step.deny->reason};
          return done(std::move(refused));
        }
        if (step.filter) outcome->body_filters.push_back(std::move(step.filter));
        run_remote_responses(std::move(exchange), index + 1, std::move(outcome), std::move(done));
      });
}

void PipelineExchangePolicy::on_finished(const proxy::Exchange& exchange,
                                         const proxy::ExchangeSummary& summary) {
  const auto& request = exchange.request;
  policy::NetworkEvent event;
  event.method = request.method;
  event.scheme = request.tls ? "https" : "http";
  event.host = request.host;
  if (request.destination) event.address = request.destination->to_string();
  event.port = request.port;
  // The guest's own path: the transformed one may hold an injected secret value.
  event.path = path_without_query(exchange.original_target);
  event.exchange_id = request.exchange_id;
  event.status = summary.replied ? summary.replied->status : exchange.response.status;
  // Blocked = the policy answered instead of the server (not the engine's own 400/413/502).
  event.blocked = summary.replied && summary.replied->status != 400 &&
                  summary.replied->status != 413 && summary.replied->status != 502;
  event.reason = summary.replied ? summary.replied->reason : summary.error;
  event.request_bytes = summary.request_bytes;
  event.response_bytes = summary.response_bytes;
  event.duration_ms = static_cast<int64_t>(summary.duration.count());
  emit(policy::http_response_event(event));
  if (auto* sink = pipeline_.sink()) sink->on_network(event);
}

}  // namespace matchlock::net
