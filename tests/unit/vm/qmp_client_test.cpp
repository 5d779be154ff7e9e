// QmpClient against a scripted QMP peer on a socketpair.
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "vm/fake_qemu.h"
#include "vm/qmp_client.h"

using namespace matchlock;

using matchlock::testing::FakeQemu;

TEST_CASE("QMP negotiates capabilities after the greeting", "[qmp]") {
  FakeQemu q;
  q.send("{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n");
  std::string sent;
  q.run_until([&] { return (sent += q.received()).find("qmp_capabilities") != std::string::npos; });
  CHECK(sent == "{\"execute\":\"qmp_capabilities\"}\n");
  CHECK_FALSE(q.ready);
  q.send("{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  REQUIRE(q.ready);
  CHECK(q.ready->ok());
}

TEST_CASE("QMP events interleaved with replies are skipped", "[qmp]") {
  FakeQemu q;
  // QEMU may put an event in the same read as the capabilities reply.
  q.send("{\"QMP\": {}}\n");
  q.run_until([&] { return !q.received().empty(); });
  q.send("{\"event\": \"NETDEV_STREAM_CONNECTED\", \"data\": {}}\n{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  REQUIRE(q.ready);
  std::optional<Result<std::string>> status;
  q.client->execute("query-status", [&](Result<std::string> r) { status = std::move(r); });
  q.send("{\"event\": \"RESUME\"}\n{\"return\": {\"status\": \"running\", \"running\": true}}\n");
  q.run_until([&] { return status.has_value(); });
  REQUIRE(status);
  REQUIRE(status->ok());
  CHECK(status->value() == "{\"status\":\"running\",\"running\":true}");
}

TEST_CASE("QMP errors and a closed socket reach every waiter", "[qmp]") {
  FakeQemu q;
  q.send("{\"QMP\": {}}\n");
  q.run_until([&] { return !q.received().empty(); });
  q.send("{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  std::optional<Result<std::string>> first, second;
  q.client->execute("bogus", [&](Result<std::string> r) { first = std::move(r); });
  q.client->execute("quit", [&](Result<std::string> r) { second = std::move(r); });
  q.send("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"no such command\"}}\n");
  q.run_until([&] { return first.has_value(); });
  REQUIRE(first);
  CHECK_FALSE(first->ok());
  CHECK(first->error().message == "QMP: no such command");
  ::shutdown(q.fd, SHUT_RDWR);
  q.run_until([&] { return second.has_value(); });
  REQUIRE(second);
  CHECK_FALSE(second->ok());
}

TEST_CASE("an endless QMP line is refused", "[qmp]") {
  FakeQemu q;
  std::string junk(64 * 1024, 'x');
  for (int i = 0; i < 20 && !q.ready; ++i) {
    ::send(q.fd, junk.data(), junk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    uv_run(&q.loop, UV_RUN_NOWAIT);
  }
  q.run_until([&] { return q.ready.has_value(); });
  REQUIRE(q.ready);
  CHECK_FALSE(q.ready->ok());
}

TEST_CASE("query-status reports a running machine as running", "[qmp]") {
  auto st =
      vm::parse_query_status(R"({"running": true, "singlestep": false, "status": "running"})");
  CHECK(st.running);
  CHECK(st.status == "running");
}

TEST_CASE("query-status of a paused machine names its state", "[qmp]") {
  auto st = vm::parse_query_status(R"({"running": false, "status": "prelaunch"})");
  CHECK_FALSE(st.running);
  CHECK(st.status == "prelaunch");
}

TEST_CASE("malformed query-status replies read as not running", "[qmp]") {
  for (const char* reply : {"", "not json", "[]", R"({"status": "running"})",
                            R"({"running": "yes", "status": "running"})"}) {
    auto st = vm::parse_query_status(reply);
    CHECK_FALSE(st.running);
  }
  CHECK(vm::parse_query_status("{}").status == "unknown");
}

TEST_CASE("QMP query_status parses the reply", "[qmp]") {
  FakeQemu q;
  q.send("{\"QMP\": {}}\n");
  q.run_until([&] { return !q.received().empty(); });
  q.send("{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  std::optional<Result<vm::VmStatus>> got;
  q.client->query_status([&](Result<vm::VmStatus> r) { got = std::move(r); });
  q.send("{\"return\": {\"running\": false, \"status\": \"paused\"}}\n");
  q.run_until([&] { return got.has_value(); });
  REQUIRE(got);
  REQUIRE(got->ok());
  CHECK_FALSE((*got)->running);
  CHECK((*got)->status == "paused");
}

TEST_CASE("a reply callback may destroy the client mid-read", "[qmp]") {
  FakeQemu q;
  q.send("{\"QMP\": {}}\n");
  q.run_until([&] { return !q.received().empty(); });
  q.send("{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  bool answered = false;
  q.client->execute("query-status", [&](Result<std::string>) {
    answered = true;
    q.client.reset();  // as a failed boot does
  });
  // The reply and a further line arrive in one read: nothing may touch the client after.
  q.send("{\"return\": {}}\n{\"event\": \"STOP\"}\n");
  q.run_until([&] { return answered; });
  CHECK(answered);
  CHECK_FALSE(q.client);
}

TEST_CASE("QMP commands carry JSON arguments, escaped", "[qmp]") {
  FakeQemu q;
  q.send("{\"QMP\": {}}\n");
  q.run_until([&] { return !q.received().empty(); });
  q.send("{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  std::optional<Result<std::string>> got;
  q.client->execute("migrate", R"({"uri": "file:/a\"b"})",
                    [&](Result<std::string> r) { got = std::move(r); });
  std::string sent;
  q.run_until([&] { return !(sent += q.received()).empty(); });
  CHECK(sent == "{\"execute\":\"migrate\",\"arguments\":{\"uri\":\"file:/a\\\"b\"}}\n");
  q.send("{\"return\": {}}\n");
  q.run_until([&] { return got.has_value(); });
  REQUIRE(got);
  CHECK(got->ok());
  // Arguments that are not an object are refused before anything is sent.
  std::optional<Result<std::string>> bad;
  q.client->execute("migrate", "[1]", [&](Result<std::string> r) { bad = std::move(r); });
  REQUIRE(bad);
  CHECK_FALSE(bad->ok());
  CHECK(q.received().empty());
}

TEST_CASE("QMP events reach subscribers until they unsubscribe, then the end", "[qmp]") {
  FakeQemu q;
  q.send("{\"QMP\": {}}\n");
  q.run_until([&] { return !q.received().empty(); });
  std::vector<std::string> a, b;
  std::optional<Error> a_end, b_end;
  auto record = [](std::vector<std::string>& into, std::optional<Error>& end) {
    return [&into, &end](Result<vm::QmpEvent> e) {
      if (!e.ok()) return void(end = e.error());
      into.push_back(e.value().name + " " + e.value().data);
    };
  };
  uint64_t ida = q.client->subscribe(record(a, a_end));
  q.client->subscribe(record(b, b_end));
  // Events before the capabilities reply (QEMU may send them) are delivered too.
  q.send("{\"event\": \"STOP\", \"timestamp\": {}}\n{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  q.send("{\"event\": \"MIGRATION\", \"data\": {\"status\": \"completed\"}}\n");
  q.run_until([&] { return b.size() == 2; });
  q.client->unsubscribe(ida);
  q.send("{\"event\": \"RESUME\"}\n{\"event\": 7}\n");
  q.run_until([&] { return b.size() == 3; });
  CHECK(a == std::vector<std::string>{"STOP {}", "MIGRATION {\"status\":\"completed\"}"});
  CHECK(b ==
        std::vector<std::string>{"STOP {}", "MIGRATION {\"status\":\"completed\"}", "RESUME {}"});
  ::shutdown(q.fd, SHUT_RDWR);
  q.run_until([&] { return b_end.has_value(); });
  CHECK(b_end);
  CHECK_FALSE(a_end);  // unsubscribed: not told
  // A subscriber after the end hears of it (on a later turn of the loop).
  std::optional<Error> late;
  q.client->subscribe([&](Result<vm::QmpEvent> e) {
    if (!e.ok()) late = e.error();
  });
  q.run_until([&] { return late.has_value(); });
  CHECK(late);
}
