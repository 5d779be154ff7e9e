// PipelineExchangePolicy: the pipeline's phases in the proxy's terms, and the events it emits
// (never a query string or a header value).
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "net/intercept/pipeline_exchange_policy.h"

using namespace matchlock::net;
using namespace matchlock::net::policy;

namespace {

struct Recorder : EventSink {
  std::vector<Event> events;
  void on_decision(const PolicyEvent&) override {}
  void on_event(const Event& e) override { events.push_back(e); }
};

// Allows "ok.test", answers 429 for "busy.test", injects a header, rewrites bodies.
struct TestPlugin : Plugin {
  std::string_view name() const override { return "test"; }
  GateResult gate(const Request& r) override {
    if (r.host == "busy.test") return Deny{"budget spent", 429};
    if (r.host == "ok.test") return Allow{"listed"};
    return Continue{};
  }
  TransformResult transform_request(Request& r) override {
    set_header(r.headers, "Authorization", "Bearer real-secret");
    return Continue{};
  }
  bool wants_request_body(const Request& r) const override { return r.method == "POST"; }
  TransformResult transform_request_body(const Request&, std::string& body) override {
    if (body == "deny") return Deny{"no"};
    body = "rewritten";
    return Continue{};
  }
};

// A remote plugin that answers at once, denying requests to /remote-deny.
struct Remote : RemotePlugin {
  std::string_view name() const override { return "remote"; }
  void before_request(std::shared_ptr<Request> r,
                      std::function<void(TransformResult)> done) override {
    if (r->target == "/remote-deny") return done(Deny{"remote says no"});
    set_header(r->headers, "X-Remote", "seen");
    done(Continue{});
  }
  void after_response(std::shared_ptr<const Request>, std::shared_ptr<Response>,
                      std::function<void(ResponseStep)> done) override {
    done(ResponseStep{});
  }
};

std::shared_ptr<proxy::Exchange> exchange_for(const std::string& host, const std::string& target,
                                              const std::string& method = "GET") {
  auto e = std::make_shared<proxy::Exchange>();
  e->request.protocol = Protocol::kHttp;
  e->request.host = host;
  e->request.method = method;
  e->request.target = target;
  e->request.exchange_id = 7;
  return e;
}

proxy::RequestOutcome request(PipelineExchangePolicy& p, std::shared_ptr<proxy::Exchange> e) {
  std::optional<proxy::RequestOutcome> got;
  p.on_request(e, [&](proxy::RequestOutcome o) { got = std::move(o); });
  REQUIRE(got);
  return std::move(*got);
}

}  // namespace

TEST_CASE("pipeline exchange policy: gate status, transforms, remote chain, body rewrite",
          "[net][policy][proxy]") {
  Recorder sink;
  Pipeline pipeline(&sink);
  pipeline.add(std::make_unique<TestPlugin>());
  pipeline.add_remote(std::make_unique<Remote>());
  PipelineExchangePolicy policy(pipeline);

  auto busy = request(policy, exchange_for("busy.test", "/"));
  REQUIRE(busy.reply);
  CHECK(busy.reply->status == 429);
  auto blocked = request(policy, exchange_for("evil.test", "/"));
  REQUIRE(blocked.reply);
  CHECK(blocked.reply->status == 403);
  auto remote_denied = request(policy, exchange_for("ok.test", "/remote-deny"));
  REQUIRE(remote_denied.reply);
  CHECK(remote_denied.reply->reason == "remote says no");

  auto ok = exchange_for("ok.test", "/v1/x?token=s3cret");
  auto allowed = request(policy, ok);
  CHECK(!allowed.reply);
  CHECK(!allowed.rewrite_body);
  CHECK(find_header(ok->request.headers, "Authorization")->value == "Bearer real-secret");
  CHECK(find_header(ok->request.headers, "X-Remote")->value == "seen");

  auto post = exchange_for("ok.test", "/upload", "POST");
  auto rewrite = request(policy, post);
  REQUIRE(rewrite.rewrite_body);
  std::string body = "original";
  CHECK(!rewrite.rewrite_body(body));
  CHECK(body == "rewritten");
  std::string denied = "deny";
  CHECK(rewrite.rewrite_body(denied));

  proxy::ExchangeSummary summary;
  summary.response_bytes = 12;
  ok->response.status = 200;
  policy.on_finished(*ok, summary);
  const Event& last = sink.events.back();
  CHECK(last.type == EventType::kHttpResponse);
  for (const auto& e : sink.events) {
    CHECK(e.summary.find("s3cret") == std::string::npos);
    for (const auto& f : e.data) {
      if (auto* s = std::get_if<std::string>(&f.value)) {
        CHECK(s->find("s3cret") == std::string::npos);
        CHECK(s->find("real-secret") == std::string::npos);
      }
    }
  }
  CHECK(path_without_query("/v1/x?token=s3cret") == "/v1/x");
}
