// The watch over the agent's port against QMP events from a scripted QEMU.
#include "sandbox/agent_port_watch.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "vm/fake_qemu.h"

using namespace matchlock;
using matchlock::testing::FakeQemu;

namespace {

void negotiate(FakeQemu& q) {
  q.send("{\"QMP\": {}}\n");
  q.run_until([&] { return !q.received().empty(); });
  q.send("{\"return\": {}}\n");
  q.run_until([&] { return q.ready.has_value(); });
  REQUIRE(q.ready);
}

std::string port_change(const std::string& id, bool open) {
  return "{\"event\": \"VSERPORT_CHANGE\", \"data\": {\"id\": \"" + id +
         "\", \"open\": " + (open ? "true" : "false") + "}}\n";
}

}  // namespace

TEST_CASE("only VSERPORT_CHANGE of the agent's port id is a port change", "[agent_port_watch]") {
  CHECK(sandbox::is_port_change({"VSERPORT_CHANGE", R"({"id":"matchlock-ctl","open":false})"},
                                "matchlock-ctl"));
  CHECK_FALSE(sandbox::is_port_change({"VSERPORT_CHANGE", R"({"id":"other","open":false})"},
                                      "matchlock-ctl"));
  CHECK_FALSE(sandbox::is_port_change({"RESUME", R"({"id":"matchlock-ctl"})"}, "matchlock-ctl"));
  CHECK_FALSE(sandbox::is_port_change({"VSERPORT_CHANGE", "garbage"}, "matchlock-ctl"));
  CHECK_FALSE(sandbox::is_port_change({"VSERPORT_CHANGE", R"({"id":7})"}, "matchlock-ctl"));
}

TEST_CASE("a port change after READY is reported once; before READY it is the agent's own",
          "[agent_port_watch]") {
  FakeQemu q;
  negotiate(q);
  bool ready = false;
  std::vector<std::string> lost;
  sandbox::AgentPortWatch watch(
      *q.client, "matchlock-ctl", [&] { return ready; },
      [&](const Error& e) { lost.push_back(e.message); });
  q.send(port_change("matchlock-ctl", true));  // the agent opening its port while booting
  q.client->read_pending_now();
  CHECK(lost.empty());
  ready = true;
  q.send(port_change("another-port", false));
  q.client->read_pending_now();
  CHECK(lost.empty());
  q.send(port_change("matchlock-ctl", false) + port_change("matchlock-ctl", true));
  q.client->read_pending_now();  // handled here, without turning the loop
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].find("reopened inside the guest") != std::string::npos);
  q.send(port_change("matchlock-ctl", false));
  q.run_until([] { return false; });
  CHECK(lost.size() == 1);
}
