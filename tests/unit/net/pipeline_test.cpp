#include "net/policy/pipeline.h"

#include <catch2/catch.hpp>

#include "net/policy/plugin_registry.h"
#include "net/policy/plugins/host_filter.h"

using namespace matchlock::net::policy;

namespace {

struct RecordingSink : EventSink {
  std::vector<PolicyEvent> events;
  void on_decision(const PolicyEvent& event) override { events.push_back(event); }
};

struct Fixture {
  std::shared_ptr<AllowList> allow_list = std::make_shared<AllowList>(EmptyListMeans::kDenyAll);
  std::shared_ptr<PrivateRangePolicy> ranges = std::make_shared<PrivateRangePolicy>();
  RecordingSink sink;
  Pipeline pipeline = build_pipeline({allow_list, ranges}, &sink);
};

Request http_request(const std::string& host) {
  Request r;
  r.protocol = Protocol::kHttp;
  r.host = host;
  r.destination = IpAddress::v4(93, 184, 216, 34);
  r.port = 80;
  r.method = "GET";
  r.target = "/";
  return r;
}

// Test plugins, one per phase, to show chaining semantics.
struct FixedGate : Plugin {
  std::string label;
  GateResult result;
  FixedGate(std::string l, GateResult r) : label(std::move(l)), result(std::move(r)) {}
  std::string_view name() const override { return label; }
  GateResult gate(const Request&) override { return result; }
};

struct Router : Plugin {
  std::string label, to;
  Router(std::string l, std::string t) : label(std::move(l)), to(std::move(t)) {}
  std::string_view name() const override { return label; }
  RouteResult route(const Request&) override { return RouteTo{to, 8080, false, "local"}; }
};

struct HeaderAppender : Plugin {
  std::string value;
  explicit HeaderAppender(std::string v) : value(std::move(v)) {}
  std::string_view name() const override { return "appender"; }
  TransformResult transform_request(Request& request) override {
    request.headers.push_back({"X-Chain", value});
    return Continue{};
  }
  TransformResult transform_response(const Request&, Response& response) override {
    response.headers.push_back({"X-Chain", value});
    return Continue{};
  }
};

}  // namespace

TEST_CASE("host_filter is registered as the first built-in plugin", "[net][pipeline]") {
  REQUIRE_FALSE(builtin_plugins().empty());
  CHECK(builtin_plugins()[0].name == "host_filter");
  Fixture f;
  CHECK(f.pipeline.size() == 1);
}

TEST_CASE("host_filter allows allow-listed hosts and reports the decision", "[net][pipeline]") {
  Fixture f;
  REQUIRE(f.allow_list->add({"*.example.test"}).ok());
  GateVerdict verdict = f.pipeline.evaluate_gate(http_request("api.example.test"));
  CHECK(verdict.allowed);
  CHECK(verdict.plugin == "host_filter");
  REQUIRE(f.sink.events.size() == 1);
  CHECK(f.sink.events[0].phase == "gate");
  CHECK(f.sink.events[0].plugin == "host_filter");
  CHECK(f.sink.events[0].host == "api.example.test");
  CHECK(f.sink.events[0].allowed);
  CHECK(f.sink.events[0].reason == "host api.example.test matches *.example.test");
}

TEST_CASE("host_filter denies hosts outside the allow-list with a reason naming the host",
          "[net][pipeline]") {
  Fixture f;
  REQUIRE(f.allow_list->add({"*.example.test"}).ok());
  GateVerdict verdict = f.pipeline.evaluate_gate(http_request("example.test"));
  CHECK_FALSE(verdict.allowed);
  CHECK(verdict.reason == "host example.test is not in the allow-list");
  CHECK_FALSE(f.sink.events.at(0).allowed);
}

TEST_CASE("runtime allow-list changes take effect on the next request", "[net][pipeline]") {
  Fixture f;
  CHECK_FALSE(f.pipeline.evaluate_gate(http_request("late.example")).allowed);
  REQUIRE(f.allow_list->add({"late.example"}).ok());
  CHECK(f.pipeline.evaluate_gate(http_request("late.example")).allowed);
  f.allow_list->remove({"late.example"});
  CHECK_FALSE(f.pipeline.evaluate_gate(http_request("late.example")).allowed);
}

TEST_CASE("host_filter checks the destination address when there is no host", "[net][pipeline]") {
  Fixture f;
  REQUIRE(f.allow_list->add({"93.184.216.34"}).ok());
  Request raw;
  raw.protocol = Protocol::kRaw;
  raw.destination = IpAddress::v4(93, 184, 216, 34);
  CHECK(f.pipeline.evaluate_gate(raw).allowed);
  CHECK(f.sink.events.back().host == "93.184.216.34");
  raw.destination = IpAddress::v4(1, 1, 1, 1);
  CHECK_FALSE(f.pipeline.evaluate_gate(raw).allowed);
  raw.destination.reset();
  CHECK_FALSE(f.pipeline.evaluate_gate(raw).allowed);
}

TEST_CASE("host_filter refuses private IP literals even when allow-listed", "[net][pipeline]") {
  Fixture f;
  REQUIRE(f.allow_list->add({"*", "10.0.0.5"}).ok());
  CHECK_FALSE(f.pipeline.evaluate_gate(http_request("10.0.0.5")).allowed);
  CHECK_FALSE(f.pipeline.evaluate_gate(http_request("::ffff:127.0.0.1")).allowed);
  CHECK_FALSE(f.pipeline.evaluate_gate(http_request("100.64.1.1")).allowed);
  f.ranges->add_exception(*PrivateRangePolicy::parse_exception("10.0.0.5"));
  CHECK(f.pipeline.evaluate_gate(http_request("10.0.0.5")).allowed);
}

TEST_CASE("empty allow-list allows all only when configured so", "[net][pipeline]") {
  auto open = std::make_shared<AllowList>(EmptyListMeans::kAllowAll);
  Pipeline pipeline = build_pipeline({open, std::make_shared<PrivateRangePolicy>()}, nullptr);
  CHECK(pipeline.evaluate_gate(http_request("anything.example")).allowed);
  Fixture closed;
  CHECK_FALSE(closed.pipeline.evaluate_gate(http_request("anything.example")).allowed);
}

TEST_CASE("gate requires every plugin to allow and stops at the first deny", "[net][pipeline]") {
  RecordingSink sink;
  Pipeline pipeline(&sink);
  pipeline.add(std::make_unique<FixedGate>("first", Allow{"ok"}));
  pipeline.add(std::make_unique<FixedGate>("second", Deny{"budget exhausted"}));
  pipeline.add(std::make_unique<FixedGate>("third", Allow{"ok"}));
  GateVerdict verdict = pipeline.evaluate_gate(http_request("a.example"));
  CHECK_FALSE(verdict.allowed);
  CHECK(verdict.plugin == "second");
  CHECK(verdict.reason == "budget exhausted");
  CHECK(sink.events.size() == 2);
}

TEST_CASE("gate with only abstaining plugins denies", "[net][pipeline]") {
  RecordingSink sink;
  Pipeline pipeline(&sink);
  pipeline.add(std::make_unique<FixedGate>("quiet", Continue{}));
  GateVerdict verdict = pipeline.evaluate_gate(http_request("a.example"));
  CHECK_FALSE(verdict.allowed);
  CHECK(verdict.plugin == "pipeline");
  CHECK(sink.events.size() == 1);
}

TEST_CASE("route takes the first directive", "[net][pipeline]") {
  RecordingSink sink;
  Pipeline pipeline(&sink);
  pipeline.add(std::make_unique<FixedGate>("gate-only", Allow{}));
  pipeline.add(std::make_unique<Router>("local_model_router", "127.0.0.1"));
  pipeline.add(std::make_unique<Router>("other", "other.example"));
  auto route = pipeline.evaluate_route(http_request("api.openai.com"));
  REQUIRE(route.has_value());
  CHECK(route->host == "127.0.0.1");
  CHECK(sink.events.back().plugin == "local_model_router");
  CHECK_FALSE(Pipeline().evaluate_route(http_request("x")).has_value());
}

TEST_CASE("request and response transforms are chained in order", "[net][pipeline]") {
  Pipeline pipeline;
  pipeline.add(std::make_unique<HeaderAppender>("1"));
  pipeline.add(std::make_unique<HeaderAppender>("2"));
  Request request = http_request("a.example");
  CHECK(pipeline.apply_request_transforms(request).allowed);
  REQUIRE(request.headers.size() == 2);
  CHECK(request.headers[0].value == "1");
  CHECK(request.headers[1].value == "2");
  Response response;
  CHECK(pipeline.apply_response_transforms(request, response).allowed);
  CHECK(response.headers.size() == 2);
}
