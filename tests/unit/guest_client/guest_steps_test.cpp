// READY's account of the guest's configuration steps, from the agent's message to the host's
// debug line; the host takes nothing in it on trust.
#include "guest_client/guest_steps.h"

#include <catch2/catch.hpp>

#include "agent_messages.h"
#include "core/json.h"

using namespace matchlock;

namespace {

std::string line_of(const std::string& ready) {
  json::Document d;
  d.Parse(ready.c_str(), ready.size());
  REQUIRE_FALSE(d.HasParseError());
  return guest_client::guest_steps_line(d, "guest configuration");
}

}  // namespace

TEST_CASE("the agent's READY steps become one debug line", "[guest_client][ready]") {
  const std::string ready = guest_agent::ready_message(
      std::string(64, 'a'), {{"entropy and clock", 0.42}, {"mount the overlay", 12.25}});
  CHECK(line_of(ready) ==
        "guest configuration: 12.7 ms (entropy and clock 0.4, mount the overlay 12.2)");
  CHECK(line_of(guest_agent::ready_message(std::string(64, 'a'), {})).empty());
  CHECK(line_of(R"({"channel_token":"x"})").empty());  // an older agent
}

TEST_CASE("a hostile guest's READY steps are bounded and printable", "[guest_client][ready]") {
  std::string many = R"({"steps":[)";
  for (int i = 0; i < 1000; ++i) many += std::string(i ? "," : "") + R"({"step":"s","ms":1})";
  many += "]}";
  const std::string line = line_of(many);
  CHECK(line.find("guest configuration: 24.0 ms (") == 0);  // kMaxSteps of them

  // A forged log line, a long name, and durations that are not durations.
  const std::string forged =
      line_of(std::string(R"({"steps":[{"step":"a\nmatchlock: error: x","ms":1},)") +
              R"({"step":")" + std::string(500, 'n') + R"(","ms":2},)" +
              R"({"step":"neg","ms":-5},{"step":"huge","ms":1e300},)" +
              R"({"step":7,"ms":1},{"step":"no ms"},"x",{"step":"ok","ms":0.5}]})");
  CHECK(forged.find('\n') == std::string::npos);
  CHECK(forged.find("a?matchlock: error: x 1.0") != std::string::npos);
  CHECK(forged.find(std::string(48, 'n') + "... (500 bytes) 2.0") != std::string::npos);
  CHECK(forged.find("neg") == std::string::npos);
  CHECK(forged.find("huge") == std::string::npos);
  CHECK(forged.find("ok 0.5") != std::string::npos);
  CHECK(forged.find("guest configuration: 3.5 ms") == 0);

  // A CSI written as the C1 control U+009B (what xterm acts on like "ESC ["), raw or escaped.
  CHECK(line_of("{\"steps\":[{\"step\":\"x\xc2\x9b"
                "31my\",\"ms\":1}]}") == "guest configuration: 1.0 ms (x??31my 1.0)");
  CHECK(line_of(R"({"steps":[{"step":"x\u009b31my","ms":1}]})") ==
        "guest configuration: 1.0 ms (x??31my 1.0)");

  CHECK(line_of(R"({"steps":{"step":"x","ms":1}})").empty());
  CHECK(line_of(R"([1,2])").empty());
}

TEST_CASE("the agent's HELLO carries /init's steps for the boot line", "[guest_client][ready]") {
  const std::string hello = guest_agent::hello_message(
      2500, {{"kernel modules", 400.25}, {"mount the image's disk", 60.5}});
  json::Document d;
  d.Parse(hello.c_str(), hello.size());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(json::get_int(d, "boot_ms", -1) == 2500);
  CHECK(guest_client::guest_steps_line(d, "guest boot") ==
        "guest boot: 460.8 ms (kernel modules 400.2, mount the image's disk 60.5)");
  // An agent that sends no steps (or an empty list) gives no line.
  d.Parse(guest_agent::hello_message(2500).c_str());
  CHECK(guest_client::guest_steps_line(d, "guest boot").empty());
}
