// Network `event` notifications: the line built from a NetworkEvent, the events the proxy's
// exchange policy and the stream gate report, and the rule that no secret value and no query
// string ever reaches an event.
#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "net/intercept/pipeline_exchange_policy.h"
#include "net/policy/network_event.h"
#include "rpc/network_wire.h"

using namespace matchlock;
using namespace matchlock::net;
using namespace matchlock::net::policy;
using matchlock::rpc::network_event_line;

namespace {

rapidjson::Document parse(const std::string& line) {
  rapidjson::Document d;
  d.Parse(line.c_str(), line.size());
  REQUIRE_FALSE(d.HasParseError());
  REQUIRE(line.back() == '\n');
  return d;
}

struct NetworkRecorder : EventSink {
  std::vector<Event> events;
  std::vector<NetworkEvent> network;
  void on_decision(const PolicyEvent&) override {}
  void on_event(const Event& e) override { events.push_back(e); }
  void on_network(const NetworkEvent& e) override { network.push_back(e); }
};

// Allows "ok.test" and puts a secret's value where the guest had its placeholder, in the
// target and a header, as the secret injector does.
struct InjectingPlugin : Plugin {
  std::string_view name() const override { return "inject"; }
  GateResult gate(const Request& r) override {
    if (r.host == "ok.test") return Allow{"listed"};
    return Continue{};
  }
  TransformResult transform_request(Request& r) override {
    r.target = "/v1/REAL-SECRET-VALUE/x?key=REAL-SECRET-VALUE";
    set_header(r.headers, "Authorization", "Bearer REAL-SECRET-VALUE");
    return Continue{};
  }
};

}  // namespace

TEST_CASE("network event line: an allowed exchange", "[rpc][net][events]") {
  NetworkEvent e;
  e.method = "GET";
  e.scheme = "https";
  e.host = "api.openai.com";
  e.port = 443;
  e.path = "/v1/models";
  e.exchange_id = 3;
  e.status = 200;
  e.request_bytes = 0;
  e.response_bytes = 1234;
  e.duration_ms = 87;
  CHECK(
      network_event_line(e, 1718000000123) ==
      R"({"jsonrpc":"2.0","method":"event","params":{"type":"network","timestamp":1718000000123,)"
      R"("network":{"method":"GET","url":"https://api.openai.com/v1/models","host":"api.openai.com",)"
      R"("status_code":200,"request_bytes":0,"response_bytes":1234,"duration_ms":87,"blocked":false}}})"
      "\n");
}

TEST_CASE("network event line: a blocked request names its reason", "[rpc][net][events]") {
  NetworkEvent e;
  e.method = "POST";
  e.scheme = "http";
  e.host = "evil.test";
  e.port = 8080;
  e.path = "/upload";
  e.status = 403;
  e.blocked = true;
  e.reason = "host not in allow-list";
  auto d = parse(network_event_line(e, 1));
  const auto& n = d["params"]["network"];
  CHECK(std::string(n["url"].GetString()) == "http://evil.test:8080/upload");
  CHECK(n["blocked"].GetBool());
  CHECK(std::string(n["block_reason"].GetString()) == "host not in allow-list");
  CHECK(n["status_code"].GetInt() == 403);
}

TEST_CASE("network event URLs", "[rpc][net][events]") {
  NetworkEvent e;
  e.scheme = "https";
  e.host = "h.test";
  e.port = 443;
  e.path = "/";
  CHECK(network_event_url(e) == "https://h.test/");
  e.port = 8443;
  CHECK(network_event_url(e) == "https://h.test:8443/");
  e.scheme = "http";
  e.port = 80;
  CHECK(network_event_url(e) == "http://h.test/");
  e.scheme = "tcp";
  e.host = "10.0.0.5";
  e.port = 22;
  e.path = "";
  CHECK(network_event_url(e) == "tcp://10.0.0.5:22");
  // A request that named no host (HTTP/1.0 without Host): the address stands in.
  e.scheme = "http";
  e.host = "";
  e.address = "10.0.0.7";
  e.port = 80;
  e.path = "/x";
  CHECK(network_event_url(e) == "http://10.0.0.7/x");
  CHECK(network_event_host(e) == "10.0.0.7");
}

TEST_CASE("blocked connection events from what the gate judged", "[rpc][net][events]") {
  Request raw;
  raw.protocol = Protocol::kRaw;
  raw.destination = IpAddress::v4(10, 1, 2, 3);
  raw.port = 5432;
  auto r = blocked_connection_event(raw, "no gate plugin allowed this connection");
  CHECK(r.blocked);
  CHECK(r.method.empty());
  CHECK(network_event_host(r) == "10.1.2.3");
  CHECK(network_event_url(r) == "tcp://10.1.2.3:5432");
  CHECK(r.status == 0);

  Request tls = raw;
  tls.protocol = Protocol::kTls;
  tls.host = "blocked.test";
  tls.port = 443;
  CHECK(network_event_url(blocked_connection_event(tls, "x")) == "tls://blocked.test:443");

  Request http = raw;
  http.protocol = Protocol::kHttp;
  http.host = "blocked.test";
  http.port = 80;
  http.method = "GET";
  http.target = "/a?token=t0ken#frag";
  auto h = blocked_connection_event(http, "denied");
  CHECK(network_event_url(h) == "http://blocked.test/a");
  CHECK(h.method == "GET");
  CHECK(h.status == 403);
}

TEST_CASE("network events never carry a secret value or a query string", "[rpc][net][events]") {
  NetworkRecorder sink;
  Pipeline pipeline(&sink);
  pipeline.add(std::make_unique<InjectingPlugin>());
  PipelineExchangePolicy policy(pipeline);

  auto ex = std::make_shared<proxy::Exchange>();
  ex->request.protocol = Protocol::kHttp;
  ex->request.tls = true;
  ex->request.port = 443;
  ex->request.host = "ok.test";
  ex->request.method = "GET";
  // The guest's own request: a placeholder in the path, another in the query.
  ex->request.target = "/v1/SECRET_PLACEHOLDER/x?key=SECRET_PLACEHOLDER";
  ex->request.exchange_id = 9;
  std::optional<proxy::RequestOutcome> outcome;
  policy.on_request(ex, [&](proxy::RequestOutcome o) { outcome = std::move(o); });
  REQUIRE(outcome);
  REQUIRE_FALSE(outcome->reply);
  REQUIRE(ex->request.target.find("REAL-SECRET-VALUE") != std::string::npos);  // injected

  ex->response.status = 201;
  proxy::ExchangeSummary summary;
  summary.request_bytes = 5;
  summary.response_bytes = 12;
  summary.duration = std::chrono::milliseconds(40);
  policy.on_finished(*ex, summary);

  REQUIRE(sink.network.size() == 1);
  const auto& n = sink.network[0];
  CHECK(n.exchange_id == 9);
  CHECK(n.status == 201);
  CHECK_FALSE(n.blocked);
  const std::string line = network_event_line(n, 1);
  CHECK(line.find("REAL-SECRET-VALUE") == std::string::npos);
  CHECK(line.find("key=") == std::string::npos);
  auto d = parse(line);
  const auto& w = d["params"]["network"];
  CHECK(std::string(w["url"].GetString()) == "https://ok.test/v1/SECRET_PLACEHOLDER/x");
  CHECK(w["request_bytes"].GetUint64() == 5);
  CHECK(w["response_bytes"].GetUint64() == 12);
  CHECK(w["duration_ms"].GetInt64() == 40);

  // The event log's line for the same exchange comes from the same NetworkEvent.
  REQUIRE_FALSE(sink.events.empty());
  const Event& logged = sink.events.back();
  CHECK(logged.type == EventType::kHttpResponse);
  for (const auto& f : logged.data) {
    if (auto* s = std::get_if<std::string>(&f.value)) {
      CHECK(s->find("REAL-SECRET-VALUE") == std::string::npos);
    }
  }
}

TEST_CASE("network event strings from the guest stay bounded, valid UTF-8", "[rpc][net][events]") {
  NetworkEvent e;
  e.method = "GET";
  e.scheme = "http";
  e.host = "h.test";
  e.path = "/" + std::string(10000, 'a') + "\xff\xfe";
  e.blocked = true;
  e.reason = "bad \xc3";
  const std::string line = network_event_line(e, 1);
  auto d = parse(line);
  CHECK(line.size() < 8192);
  CHECK(std::string(d["params"]["network"]["block_reason"].GetString()) == "bad \xEF\xBF\xBD");
}
