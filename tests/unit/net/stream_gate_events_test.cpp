// StreamGate reports every connection or request it refuses (the rpc `network` events of
// blocked connections), and nothing for what it lets through.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "net/intercept/stream_gate.h"
#include "net/policy/network_event.h"

using namespace matchlock::net;

namespace {

struct RecordingHook : PolicyHook {
  bool dial_ok = true;
  std::vector<std::pair<policy::Request, std::string>> blocked;
  DnsVerdict dns_query(const std::string&) override { return {}; }
  std::optional<std::string> dns_reply(const std::string&, std::string) override {
    return std::nullopt;
  }
  GateDecision gate(const policy::Request& r) override {
    if (r.host == "ok.test") return {true, "listed"};
    return {false, "not in the allow-list"};
  }
  bool may_dial(uint32_t, const std::string&) override { return dial_ok; }
  void connection_blocked(const policy::Request& r, const std::string& why) override {
    blocked.emplace_back(r, why);
  }
};

constexpr uint32_t kDst = (10u << 24) | (1u << 16) | (2u << 8) | 3u;  // 10.1.2.3

}  // namespace

TEST_CASE("stream gate: a refused raw connection is reported", "[net][events]") {
  RecordingHook hook;
  StreamGate gate(hook, kDst, 5432);
  auto a = gate.feed(std::string("\x01\x02\x03\x04", 4));
  CHECK(a.reset);
  REQUIRE(hook.blocked.size() == 1);
  auto e = policy::blocked_connection_event(hook.blocked[0].first, hook.blocked[0].second);
  CHECK(policy::network_event_url(e) == "tcp://10.1.2.3:5432");
  CHECK(e.reason == "not in the allow-list");
}

TEST_CASE("stream gate: a refused HTTP request is reported with its method and path",
          "[net][events]") {
  RecordingHook hook;
  StreamGate gate(hook, kDst, 80);
  auto a = gate.feed("GET /x?token=t HTTP/1.1\r\nHost: evil.test\r\n\r\n");
  CHECK(a.close_with);
  REQUIRE(hook.blocked.size() == 1);
  auto e = policy::blocked_connection_event(hook.blocked[0].first, hook.blocked[0].second);
  CHECK(e.method == "GET");
  CHECK(policy::network_event_url(e) == "http://evil.test/x");
  CHECK(e.status == 403);
}

TEST_CASE("stream gate: allowed traffic reports nothing; a refused dial is reported",
          "[net][events]") {
  RecordingHook hook;
  StreamGate allowed(hook, kDst, 80);
  auto a = allowed.feed("GET / HTTP/1.1\r\nHost: ok.test\r\n\r\n");
  CHECK(a.dial);
  CHECK(hook.blocked.empty());

  hook.dial_ok = false;
  StreamGate refused(hook, kDst, 80);
  auto b = refused.feed("GET / HTTP/1.1\r\nHost: ok.test\r\n\r\n");
  CHECK(b.close_with);
  REQUIRE(hook.blocked.size() == 1);
  CHECK(hook.blocked[0].second.find("may not be dialled") != std::string::npos);
}
