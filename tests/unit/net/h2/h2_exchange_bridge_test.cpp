#include <catch2/catch.hpp>
#include <random>

#include "bridge_harness.h"
#include "net/policy/plugins/secret_injector.h"

using namespace matchlock::net::h2;
using namespace matchlock::net::h2::testing;
namespace policy = matchlock::net::policy;

TEST_CASE("h2 bridge: a GET goes upstream with the injected header and its answer comes back",
          "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId s = h.request("GET", "/");
  h.pump();
  REQUIRE(h.origin_log.paths.size() == 1);
  const auto& origin_head = h.origin_log.heads.begin()->second;
  CHECK(header_value(origin_head, "x-injected") == "yes");
  CHECK(header_value(origin_head, "user-agent") == "test");
  CHECK(h.guest_log.status[s] == 200);
  CHECK(h.guest_log.bodies[s] == "hello");
  CHECK(h.guest_log.closed.at(s) == 0);
  REQUIRE(h.policy.finished.size() == 1);
  CHECK(h.policy.finished[0].error.empty());
  CHECK_FALSE(h.policy.finished[0].replied);
  CHECK(h.policy.finished[0].response_bytes == 5);
  CHECK(h.policy.exchange_ids == std::vector<uint64_t>{101});
}

TEST_CASE("h2 bridge: a POST body reaches the origin whole, and is counted", "[net][h2][bridge]") {
  BridgeHarness h;
  std::string body(300000, 'p');  // more than one window: flow control has to turn over
  StreamId s = h.request("POST", "/upload", body);
  h.pump();
  REQUIRE(h.origin_log.bodies.size() == 1);
  CHECK(h.origin_log.bodies.begin()->second == body);
  CHECK(h.guest_log.status[s] == 200);
  REQUIRE(h.policy.finished.size() == 1);
  CHECK(h.policy.finished[0].request_bytes == body.size());
}

TEST_CASE("h2 bridge: a streamed response reaches the guest piece by piece, with trailers",
          "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId origin_stream = 0;
  h.origin_handler = [&](StreamId s) {
    origin_stream = s;
    (void)h.origin->submit_response(s, {200, {{"content-type", "application/grpc"}}}, true);
  };
  StreamId s = h.request("POST", "/pkg.Service/Method", "\0\0\0\0\0");
  h.pump();
  REQUIRE(origin_stream != 0);
  CHECK(h.guest_log.status[s] == 200);
  (void)h.origin->queue_data(origin_stream, "first");
  h.pump();
  CHECK(h.guest_log.bodies[s] == "first");
  CHECK_FALSE(h.guest_log.ended[s]);
  (void)h.origin->queue_data(origin_stream, "second");
  (void)h.origin->finish(origin_stream, {{"grpc-status", "0"}, {"grpc-message", "ok"}});
  h.pump();
  CHECK(h.guest_log.bodies[s] == "firstsecond");
  CHECK(h.guest_log.ended[s]);
  CHECK(header_value(h.guest_log.trailers[s], "grpc-status") == "0");
  CHECK(header_value(h.guest_log.trailers[s], "grpc-message") == "ok");
  REQUIRE(h.policy.finished.size() == 1);
  CHECK(h.policy.finished[0].error.empty());
}

TEST_CASE("h2 bridge: a blocked stream gets 403 while another on the connection succeeds",
          "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId blocked = h.request("POST", "/blocked", "secret payload");
  StreamId allowed = h.request("GET", "/ok");
  h.pump();
  CHECK(h.guest_log.status[blocked] == 403);
  CHECK(h.guest_log.bodies[blocked] == "blocked by test policy\n");
  CHECK(h.guest_log.status[allowed] == 200);
  CHECK(h.guest_log.bodies[allowed] == "hello");
  REQUIRE(h.origin_log.paths.size() == 1);
  CHECK(h.origin_log.paths.begin()->second == "/ok");
  REQUIRE(h.policy.finished.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    bool is_blocked = h.policy.finished_targets[i] == "/blocked";
    CHECK(h.policy.finished[i].replied.has_value() == is_blocked);
  }
}

TEST_CASE("h2 bridge: a host other than the server name is misdirected", "[net][h2][bridge]") {
  BridgeHarness h;
  RequestHead head{"GET", "https", "other.example", "", "/", {}};
  StreamId s = *h.guest->submit_request(head, false);
  h.pump();
  CHECK(h.guest_log.status[s] == 421);
  CHECK(h.origin_log.paths.empty());
  CHECK(h.policy.exchange_ids.empty());  // never offered to policy
  CHECK(h.policy.finished.size() == 1);
}

TEST_CASE("h2 bridge: a decision that comes later still forwards, others go on meanwhile",
          "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId slow = h.request("POST", "/deferred", "held body");
  StreamId quick = h.request("GET", "/quick");
  h.pump();
  CHECK(h.guest_log.status[quick] == 200);
  CHECK(h.guest_log.status.count(slow) == 0);
  REQUIRE(h.policy.deferred.size() == 1);
  h.policy.deferred[0]();
  h.pump();
  CHECK(h.guest_log.status[slow] == 200);
  bool found = false;
  for (auto& [id, path] : h.origin_log.paths) {
    if (path == "/deferred") found = h.origin_log.bodies[id] == "held body";
  }
  CHECK(found);
}

TEST_CASE("h2 bridge: a decision for a stream the guest reset is ignored", "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId s = h.request("GET", "/deferred");
  h.pump();
  h.guest->reset(s, H2Error::kCancel);
  h.pump();
  REQUIRE(h.policy.finished.size() == 1);
  CHECK_FALSE(h.policy.finished[0].error.empty());
  h.policy.deferred[0]();
  h.pump();
  CHECK(h.origin_log.paths.empty());
  CHECK(h.policy.finished.size() == 1);
}

TEST_CASE("h2 bridge: rewrite_body sends the rewritten body with its length", "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId s = h.request("POST", "/rewrite", "make me loud");
  h.pump();
  REQUIRE(h.origin_log.bodies.size() == 1);
  CHECK(h.origin_log.bodies.begin()->second == "MAKE ME LOUD");
  CHECK(header_value(h.origin_log.heads.begin()->second, "content-length") == "12");
  CHECK(h.guest_log.status[s] == 200);
}

TEST_CASE("h2 bridge: response filters transform streamed and whole bodies", "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId streamed = h.request("GET", "/filtered");
  StreamId whole = h.request("GET", "/whole");
  h.pump();
  CHECK(h.guest_log.bodies[streamed] == "HELLO");
  CHECK(header_value(h.guest_log.heads[streamed], "content-length").empty());
  CHECK(h.guest_log.bodies[whole] == "HELLO!");
  CHECK(header_value(h.guest_log.heads[whole], "content-length") == "6");
}

TEST_CASE("h2 bridge: a guest reset mid-response cancels the upstream stream",
          "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId origin_stream = 0;
  h.origin_handler = [&](StreamId s) {
    origin_stream = s;
    (void)h.origin->submit_response(s, {200, {{"content-type", "text/event-stream"}}}, true);
    (void)h.origin->queue_data(s, "data: 1\n\n");
  };
  StreamId s = h.request("GET", "/events");
  h.pump();
  CHECK(h.guest_log.bodies[s] == "data: 1\n\n");
  h.guest->reset(s, H2Error::kCancel);
  h.pump();
  CHECK(h.origin_log.closed.at(origin_stream) == static_cast<uint32_t>(H2Error::kCancel));
  REQUIRE(h.policy.finished.size() == 1);
  CHECK_FALSE(h.policy.finished[0].error.empty());
  // The connection goes on.
  StreamId next = h.request("GET", "/after");
  h.pump();
  CHECK(h.guest_log.status[next] == 200);
}

TEST_CASE("h2 bridge: an upstream reset becomes a 502 before the head, a reset after",
          "[net][h2][bridge]") {
  BridgeHarness h;
  std::vector<StreamId> origin_streams;
  h.origin_handler = [&](StreamId s) {
    origin_streams.push_back(s);
    if (h.origin_log.paths[s] == "/after-head") {
      (void)h.origin->submit_response(s, {200, {}}, true);
      (void)h.origin->queue_data(s, "partial");
    }
  };
  StreamId before = h.request("GET", "/before-head");
  StreamId after = h.request("GET", "/after-head");
  h.pump();
  for (StreamId os : origin_streams) h.origin->reset(os, H2Error::kInternalError);
  h.pump();
  CHECK(h.guest_log.status[before] == 502);
  CHECK(h.guest_log.status[after] == 200);
  CHECK(h.guest_log.closed.at(after) == static_cast<uint32_t>(H2Error::kInternalError));
  CHECK(h.policy.finished.size() == 2);
}

TEST_CASE("h2 bridge: a guest that does not read stops the upstream at the windows",
          "[net][h2][bridge]") {
  BridgeHarness h;
  h.guest_consumes = false;
  StreamId origin_stream = 0;
  h.origin_handler = [&](StreamId s) {
    origin_stream = s;
    (void)h.origin->submit_response(s, {200, {}}, true);
    (void)h.origin->queue_data(s, std::string(4 * 1024 * 1024, 'd'));
  };
  StreamId s = h.request("GET", "/download");
  h.pump();
  // The guest holds one window, the bridge about one more queued plus one window upstream: the
  // rest of the 4 MiB still waits at the origin.
  CHECK(h.guest_log.bodies[s].size() <= 256 * 1024);
  CHECK(h.origin->queued_bytes(origin_stream) >= 4 * 1024 * 1024 - 3 * 256 * 1024);
  h.guest_consumes = true;
  h.guest->consume(s, h.guest_log.bodies[s].size());
  h.pump();
  CHECK(h.guest_log.bodies[s].size() == 4 * 1024 * 1024);
}

TEST_CASE("h2 bridge: garbage from the guest closes both connections and finishes exchanges",
          "[net][h2][bridge]") {
  BridgeHarness h;
  h.origin_handler = [&](StreamId) {};  // never answers
  h.request("GET", "/pending");
  h.pump();
  h.bridge->on_guest_bytes(std::string("\x00\x00\x05\x07\xff\x00\x00\x00\x00garbage", 16));
  h.pump();
  CHECK(h.guest_transport.closed);
  CHECK(h.upstream_transport.closed);
  CHECK(h.bridge->is_finished());
  REQUIRE(h.policy.finished.size() == 1);
  CHECK_FALSE(h.policy.finished[0].error.empty());
}

TEST_CASE("h2 bridge: the upstream connection closing answers open streams with 502",
          "[net][h2][bridge]") {
  BridgeHarness h;
  h.origin_handler = [&](StreamId) {};
  StreamId s = h.request("GET", "/pending");
  h.pump();
  h.bridge->on_upstream_closed();
  h.pump();
  CHECK(h.guest_log.status[s] == 502);
  StreamId later = h.request("GET", "/later");
  h.pump();
  CHECK(h.guest_log.status[later] == 502);
  CHECK(h.policy.finished.size() == 2);
}

TEST_CASE("h2 bridge survives random and mutated guest input", "[net][h2][bridge][fuzz]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    BridgeHarness h;
    h.request("POST", "/upload", "abc");
    h.request("GET", "/");
    std::string conversation = h.guest->take_output();
    for (int flips = 0; flips < 3; ++flips) {
      conversation[kClientPreface.size() + rng() % (conversation.size() - kClientPreface.size())] =
          static_cast<char>(rng());
    }
    size_t cut = rng() % conversation.size();
    for (size_t at = 0; at < cut; at += 7) {
      h.bridge->on_guest_bytes(
          std::string_view(conversation).substr(at, std::min<size_t>(7, cut - at)));
      std::string upstream = std::move(h.upstream_transport.outbox);
      h.upstream_transport.outbox.clear();
      (void)h.origin->feed(upstream);
      if (!h.upstream_transport.closed) h.bridge->on_upstream_bytes(h.origin->take_output());
    }
    h.bridge.reset();  // finishing what is open must not crash either
    CHECK(h.policy.finished.size() <= 2);
  }
}

TEST_CASE("h2 bridge: a body to rewrite over the bound gets 413 and never goes upstream",
          "[net][h2][bridge]") {
  BridgeHarness h;
  StreamId s = h.request("POST", "/rewrite", std::string(kMaxWholeBodyBytes + 1, 'b'));
  h.pump();
  CHECK(h.guest_log.status[s] == 413);
  CHECK(h.origin_log.paths.empty());
  REQUIRE(h.policy.finished.size() == 1);
  CHECK(h.policy.finished[0].replied->status == 413);
  // The guest's body was acknowledged and dropped: the connection still carries requests.
  StreamId next = h.request("GET", "/next");
  h.pump();
  CHECK(h.guest_log.status[next] == 200);
}

TEST_CASE(
    "h2 bridge: a stream's request carries sni, dns_name and host that agree, so a secret "
    "bound to the host is injected",
    "[net][h2][bridge]") {
  BridgeHarness h;
  h.request("GET", "/");
  h.pump();
  REQUIRE(h.policy.requests.size() == 1);
  policy::Request request = h.policy.requests[0];
  CHECK(request.protocol == policy::Protocol::kHttp);
  CHECK(request.host == "example.com");
  CHECK(request.sni == "example.com");
  CHECK(request.dns_name == "example.com");  // asked for the stream's host, like HTTP/1.1 does
  CHECK(request.tls);
  CHECK(request.port == 443);
  REQUIRE(request.destination);
  CHECK(request.destination->to_string() == "192.0.2.7");

  const std::string placeholder = "SANDBOX_SECRET_0123456789abcdef0123456789abcdef";
  auto injector =
      policy::SecretInjector::create({{"KEY", "the-value", placeholder, {"example.com"}}}, nullptr);
  REQUIRE(injector.ok());
  request.headers.push_back({"authorization", "Bearer " + placeholder});
  auto result = (*injector)->transform_request(request);
  CHECK_FALSE(std::holds_alternative<policy::Deny>(result));
  CHECK(header_value(request.headers, "authorization") == "Bearer the-value");
}
