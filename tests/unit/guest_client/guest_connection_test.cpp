// The host side of the channel against a scripted, hostile "guest" on a socketpair.
#include <functional>
#include <set>

#include <catch2/catch.hpp>

#include "core/base64.h"
#include "core/json.h"
#include "guest_client/fake_guest.h"
#include "guest_protocol/channel_token.h"

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

// RapidJSON recurses per nesting level: a HELLO of 200 000 '[' (within the frame limit)
// overflowed the owner's stack. Nesting beyond json::kMaxDepth is refused as malformed.
TEST_CASE("a HELLO nested beyond the JSON depth limit fails the boot, not the stack",
          "[guest_connection][json]") {
  FakeGuest h;
  std::optional<Status> result;
  h.conn->handshake(test_config(), [&](Status st) { result = st; });
  h.guest_sends(encode_frame(FrameType::kHello, 0, std::string(200000, '[')));
  h.run_until([&] { return result.has_value(); });
  REQUIRE(result);
  CHECK_FALSE(result->ok());
  CHECK(result->error().message.find("not a JSON object") != std::string::npos);
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

namespace {
// Runs the handshake up to CONFIG and answers it with `ready_payload`; returns whether the
// connection became ready.
bool ready_with(FakeGuest& h, const std::function<std::string(const std::string&)>& ready_payload) {
  std::optional<Status> result;
  h.conn->handshake(test_config(), [&](Status st) { result = st; });
  h.guest_sends(
      encode_frame(FrameType::kHello, 0, "{\"version\":" + std::to_string(kProtocolVersion) + "}"));
  std::string token = h.config_token();
  h.guest_sends(encode_frame(FrameType::kReady, 0, ready_payload(token)));
  h.run_until([&] { return result.has_value(); });
  return result && result->ok();
}
}  // namespace

TEST_CASE("a READY without this connection's token fails the boot", "[guest_connection][token]") {
  std::vector<std::function<std::string(const std::string&)>> forged = {
      [](const std::string&) { return std::string("{}"); },
      [](const std::string&) { return FakeGuest::ready_payload(std::string(64, '0')); },
      [](const std::string& t) { return FakeGuest::ready_payload(t.substr(0, 63)); },
      [](const std::string& t) { return FakeGuest::ready_payload(t + "0"); },
      [](const std::string&) { return std::string("not json"); },
  };
  for (const auto& payload : forged) {
    FakeGuest h;
    CHECK_FALSE(ready_with(h, payload));
    CHECK_FALSE(h.conn->ready());
    REQUIRE(h.lost);
    CHECK(h.lost->message.find("channel token") != std::string::npos);
  }
}

TEST_CASE("a READY before any CONFIG fails the boot", "[guest_connection][token]") {
  FakeGuest h;
  std::optional<Status> result;
  h.conn->handshake(test_config(), [&](Status st) { result = st; });
  h.guest_sends(encode_frame(FrameType::kReady, 0, FakeGuest::ready_payload(std::string(64, 'a'))));
  h.run_until([&] { return result.has_value(); });
  REQUIRE(result);
  CHECK_FALSE(result->ok());
  CHECK_FALSE(h.conn->ready());
}

TEST_CASE("the tokens of two connections differ and have the documented shape",
          "[guest_connection][token]") {
  std::set<std::string> seen;
  for (int i = 0; i < 8; ++i) {
    FakeGuest h;
    h.conn->handshake(test_config(), [](Status) {});
    h.guest_sends(encode_frame(FrameType::kHello, 0,
                               "{\"version\":" + std::to_string(kProtocolVersion) + "}"));
    std::string token = h.config_token();
    CHECK(guest_protocol::is_channel_token(token));
    seen.insert(token);
  }
  CHECK(seen.size() == 8);
}

TEST_CASE("constant-time token comparison", "[guest_connection][token]") {
  using guest_protocol::channel_tokens_equal;
  std::string t(64, 'a');
  CHECK(channel_tokens_equal(t, t));
  CHECK_FALSE(channel_tokens_equal(t, ""));
  CHECK_FALSE(channel_tokens_equal(t, t + "a"));
  std::string last = t;
  last.back() = 'b';
  CHECK_FALSE(channel_tokens_equal(t, last));
  CHECK_FALSE(guest_protocol::is_channel_token(std::string(64, 'A')));
  CHECK_FALSE(guest_protocol::is_channel_token(std::string(63, 'a')));
}

TEST_CASE("bytes behind a read gate that loses the channel are dropped",
          "[guest_connection][token]") {
  FakeGuest h;
  h.handshake();
  int exit_code = -1;
  guest_client::ExecRequest req;
  req.argv = {"true"};
  guest_client::ExecEvents events;
  events.on_exit = [&](int code) { exit_code = code; };
  std::optional<Error> exec_error;
  events.on_error = [&](const Error& e, int) { exec_error = e; };
  auto exec = h.conn->open_exec(req, events);
  REQUIRE(exec);
  // The sandbox learns from QEMU, just before these bytes are decoded, that the port was
  // reopened: a forged EXIT for the running exec must not be believed.
  h.conn->set_read_gate([&] { h.conn->lose(Error(ErrorCode::kProtocol, "port reopened")); });
  h.guest_sends(encode_frame(FrameType::kExit, exec->stream_id(), i32_payload(0)));
  h.run_until([&] { return h.lost.has_value(); });
  REQUIRE(h.lost);
  CHECK(h.lost->message == "port reopened");
  CHECK(exit_code == -1);
  REQUIRE(exec_error);
  CHECK(exec_error->message == "port reopened");
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
