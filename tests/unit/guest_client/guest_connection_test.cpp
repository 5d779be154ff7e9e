// The host side of the channel against a scripted, hostile "guest" on a socketpair.
#include <catch2/catch.hpp>

#include "core/base64.h"
#include "core/json.h"
#include "guest_client/fake_guest.h"

using namespace matchlock;
using namespace matchlock::guest_protocol;
using matchlock::testing::FakeGuest;
using matchlock::testing::test_config;

TEST_CASE("handshake completes on HELLO then READY", "[guest_connection]") {
  FakeGuest h;
  h.handshake();
  CHECK(h.conn->ready());
  CHECK(h.conn->agent_version() == "test");
  CHECK_FALSE(h.lost);
}

TEST_CASE("a HELLO with another protocol version fails the boot", "[guest_connection]") {
  FakeGuest h;
  std::optional<Status> result;
  h.conn->handshake(test_config(), [&](Status st) { result = st; });
  h.guest_sends(encode_frame(FrameType::kHello, 0, R"({"version":99})"));
  h.run_until([&] { return result.has_value(); });
  REQUIRE(result);
  CHECK_FALSE(result->ok());
  CHECK(result->error().message.find("protocol version 99") != std::string::npos);
}

TEST_CASE("output beyond the granted credit closes the channel", "[guest_connection]") {
  FakeGuest h;
  h.handshake();
  std::optional<int> error_code;
  guest_client::ExecEvents ev;
  ev.on_output = [](StreamFd, std::string_view, std::function<void()>) {};  // never consumed
  ev.on_error = [&](const Error&, int code) { error_code = code; };
  auto exec =
      h.conn->open_exec({{"true"}, {}, "/", "", false, 24, 80, false, false, std::nullopt, ""}, ev);
  std::string chunk(kMaxDataChunk, 'x');
  for (uint32_t sent = 0; sent <= kInitialCredit; sent += kMaxDataChunk) {
    h.guest_sends(encode_frame(FrameType::kData, exec->stream_id(), data_payload(kStdout, chunk)));
  }
  h.run_until([&] { return h.lost.has_value(); });
  REQUIRE(h.lost);
  CHECK(h.lost->message.find("beyond its credit") != std::string::npos);
  CHECK(error_code == -1);
}

TEST_CASE("an oversized frame header closes the channel without allocating", "[guest_connection]") {
  FakeGuest h;
  h.handshake();
  std::string header = encode_frame(FrameType::kData, 1, "");
  header[5] = header[6] = header[7] = header[8] = '\xff';  // claims a 4 GiB payload
  h.guest_sends(header);
  h.run_until([&] { return h.lost.has_value(); });
  REQUIRE(h.lost);
  CHECK(h.lost->code == ErrorCode::kProtocol);
}

TEST_CASE("malformed frames on an exec stream close the channel", "[guest_connection]") {
  for (auto bad :
       {encode_frame(FrameType::kExit, 1, "abc"), encode_frame(FrameType::kEof, 1, "\x07"),
        encode_frame(FrameType::kData, 1, ""), encode_frame(FrameType::kCredit, 1, "x"),
        encode_frame(FrameType::kExecOpen, 1, "{}")}) {
    FakeGuest h;
    h.handshake();
    std::optional<Error> exec_error;
    guest_client::ExecEvents ev;
    ev.on_error = [&](const Error& e, int) { exec_error = e; };
    auto exec = h.conn->open_exec(
        {{"true"}, {}, "/", "", false, 24, 80, false, false, std::nullopt, ""}, ev);
    REQUIRE(exec->stream_id() == 1);
    h.guest_sends(bad);
    h.run_until([&] { return h.lost.has_value(); });
    REQUIRE(h.lost);
    CHECK(exec_error);
  }
}

TEST_CASE("frames for unknown streams are ignored", "[guest_connection]") {
  FakeGuest h;
  h.handshake();
  h.guest_sends(encode_frame(FrameType::kExit, 41, i32_payload(0)));
  h.guest_sends(encode_frame(FrameType::kPong, 0, ""));
  bool pong = false;
  h.conn->ping("p", [&] { pong = true; });
  h.guest_sends(encode_frame(FrameType::kPong, 0, "p"));
  h.run_until([&] { return pong; });
  CHECK(pong);
  CHECK_FALSE(h.lost);
}

TEST_CASE("exit status and output reach the exec's events", "[guest_connection]") {
  FakeGuest h;
  h.handshake();
  std::string out;
  std::optional<int> code;
  guest_client::ExecEvents ev;
  ev.on_output = [&](StreamFd, std::string_view b, std::function<void()> consumed) {
    out += b;
    consumed();
  };
  ev.on_exit = [&](int c) { code = c; };
  auto exec =
      h.conn->open_exec({{"echo"}, {}, "/", "", false, 24, 80, false, false, std::nullopt, ""}, ev);
  h.guest_sends(encode_frame(FrameType::kData, 1, data_payload(kStdout, "hi\n")));
  h.guest_sends(encode_frame(FrameType::kEof, 1, fd_payload(kStdout)));
  h.guest_sends(encode_frame(FrameType::kEof, 1, fd_payload(kStderr)));
  h.guest_sends(encode_frame(FrameType::kExit, 1, i32_payload(137)));
  h.run_until([&] { return code.has_value(); });
  CHECK(out == "hi\n");
  CHECK(code == 137);
  CHECK(exec->finished());
}

TEST_CASE("a second HELLO after READY loses the channel", "[guest_connection]") {
  FakeGuest h;
  h.handshake();
  REQUIRE(h.conn->ready());
  // A workload that grabbed the port would start with a forged HELLO: refused, never adopted.
  h.guest_sends(encode_frame(FrameType::kHello, 0, R"({"version":2,"agent":"forged"})"));
  h.run_until([&] { return h.lost.has_value(); });
  REQUIRE(h.lost);
  CHECK(h.lost->message.find("second HELLO") != std::string::npos);
  CHECK(h.conn->agent_version() == "test");
}

TEST_CASE("CONFIG carries the workspace only when there is one", "[guest_connection][config]") {
  for (std::string workspace : {"", "/workspace"}) {
    FakeGuest h;
    auto config = test_config();
    config.workspace = workspace;
    h.conn->handshake(config, [](Status) {});
    h.guest_sends(
        encode_frame(FrameType::kHello, 0,
                     "{\"version\":" + std::to_string(kProtocolVersion) + ",\"agent\":\"t\"}"));
    std::optional<Frame> sent_config;
    for (auto& f : h.host_sent())
      if (f.type == FrameType::kConfig) sent_config = f;
    REQUIRE(sent_config);
    rapidjson::Document d;
    d.Parse(sent_config->payload.c_str());
    if (workspace.empty()) {
      CHECK_FALSE(d.HasMember("workspace"));
    } else {
      CHECK(json::get_string(d, "workspace") == "/workspace");
    }
  }
}

namespace {

// The CONFIG the host sends for `config`, as JSON.
rapidjson::Document sent_config_for(const guest_client::GuestConfig& config) {
  FakeGuest h;
  h.conn->handshake(config, [](Status) {});
  h.guest_sends(
      encode_frame(FrameType::kHello, 0,
                   "{\"version\":" + std::to_string(kProtocolVersion) + ",\"agent\":\"t\"}"));
  rapidjson::Document d;
  for (auto& f : h.host_sent())
    if (f.type == FrameType::kConfig) d.Parse(f.payload.c_str());
  return d;
}

}  // namespace

TEST_CASE("CONFIG carries 64 fresh random bytes of entropy", "[guest_connection][config]") {
  auto first = sent_config_for(test_config());
  auto second = sent_config_for(test_config());
  REQUIRE(first.IsObject());
  REQUIRE(second.IsObject());
  auto a = base64::decode(json::get_string(first, "entropy"));
  auto b = base64::decode(json::get_string(second, "entropy"));
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->size() == 64);
  CHECK(b->size() == 64);
  CHECK(*a != *b);
}

TEST_CASE("CONFIG says restored only for a restored guest", "[guest_connection][config]") {
  auto config = test_config();
  CHECK_FALSE(sent_config_for(config).HasMember("restored"));
  config.restored = true;
  auto restored = sent_config_for(config);
  REQUIRE(restored.HasMember("restored"));
  CHECK(restored["restored"].IsBool());
  CHECK(restored["restored"].GetBool());
}
