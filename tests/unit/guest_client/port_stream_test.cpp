// Host-side port streams (GuestConnection::open_port) against a scripted, hostile guest.
#include <catch2/catch.hpp>

#include "core/json.h"
#include "guest_client/fake_guest.h"

using namespace matchlock;
using namespace matchlock::guest_protocol;
using matchlock::testing::FakeGuest;

namespace {

struct PortProbe {
  bool opened = false;
  std::string data;
  bool eof = false;
  std::optional<Status> closed;
  bool consume = true;
  std::vector<std::function<void()>> unconsumed;

  guest_client::PortEvents events() {
    guest_client::PortEvents ev;
    ev.on_opened = [this] { opened = true; };
    ev.on_data = [this](std::string_view b, std::function<void()> consumed) {
      data += b;
      if (consume) {
        consumed();
      } else {
        unconsumed.push_back(std::move(consumed));
      }
    };
    ev.on_eof = [this] { eof = true; };
    ev.on_closed = [this](Status st) { closed = st; };
    return ev;
  }
};

guest_client::PortTarget port(uint16_t p) {
  guest_client::PortTarget t;
  t.port = p;
  return t;
}

size_t data_bytes(const std::vector<Frame>& frames, StreamFd fd) {
  size_t n = 0;
  for (const auto& f : frames) {
    if (f.type != FrameType::kData) continue;
    auto d = parse_data(f.payload);
    if (d && d->fd == fd) n += d->bytes.size();
  }
  return n;
}

}  // namespace

TEST_CASE("open_port sends PORT_OPEN with the guest port and loopback address",
          "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  h.host_sent();
  PortProbe probe;
  auto p = h.conn->open_port(port(8080), probe.events());
  auto frames = h.host_sent();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == FrameType::kPortOpen);
  CHECK(frames[0].stream == p->stream_id());
  rapidjson::Document d;
  d.Parse(frames[0].payload.c_str());
  REQUIRE(d.IsObject());
  CHECK(json::get_int(d, "port") == 8080);
  CHECK(json::get_string(d, "address") == "127.0.0.1");
  CHECK_FALSE(p->opened());
}

TEST_CASE("exec and port streams share one sequence of stream ids", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  auto exec =
      h.conn->open_exec({{"true"}, {}, "/", "", false, 24, 80, false, false, std::nullopt, ""}, {});
  auto p = h.conn->open_port(port(80), probe.events());
  CHECK(exec->stream_id() == 1);
  CHECK(p->stream_id() == 3);
}

TEST_CASE("a port stream relays bytes both ways and ends cleanly", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  auto p = h.conn->open_port(port(80), probe.events());
  uint32_t id = p->stream_id();
  h.guest_sends(encode_frame(FrameType::kPortOpened, id, "{}"));
  h.run_until([&] { return probe.opened; });
  CHECK(p->opened());

  h.host_sent();
  p->write("GET / HTTP/1.0\r\n\r\n");
  p->shutdown_write();
  auto frames = h.host_sent();
  REQUIRE(frames.size() == 2);
  CHECK(frames[0].type == FrameType::kData);
  CHECK(parse_data(frames[0].payload)->fd == kStdin);
  CHECK(parse_data(frames[0].payload)->bytes == "GET / HTTP/1.0\r\n\r\n");
  CHECK(frames[1].type == FrameType::kEof);
  CHECK(parse_fd(frames[1].payload) == kStdin);

  h.guest_sends(encode_frame(FrameType::kData, id, data_payload(kStdout, "HTTP/1.0 200 OK\r\n")));
  h.guest_sends(encode_frame(FrameType::kEof, id, fd_payload(kStdout)));
  h.guest_sends(encode_frame(FrameType::kPortClosed, id, "{}"));
  h.run_until([&] { return probe.closed.has_value(); });
  CHECK(probe.data == "HTTP/1.0 200 OK\r\n");
  CHECK(probe.eof);
  REQUIRE(probe.closed);
  CHECK(probe.closed->ok());
  CHECK(p->finished());
  // The consumed bytes went back to the guest as credit on fd 1.
  bool credit = false;
  for (const auto& f : h.host_sent()) {
    if (f.type == FrameType::kCredit && parse_credit(f.payload)->fd == kStdout) credit = true;
  }
  CHECK(credit);
  CHECK_FALSE(h.lost);
}

TEST_CASE("a refused guest port closes the stream with the guest's message",
          "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  auto p = h.conn->open_port(port(81), probe.events());
  h.guest_sends(
      encode_frame(FrameType::kError, p->stream_id(), R"({"message":"Connection refused"})"));
  h.run_until([&] { return probe.closed.has_value(); });
  REQUIRE(probe.closed);
  REQUIRE_FALSE(probe.closed->ok());
  CHECK(probe.closed->error().message == "guest port 127.0.0.1:81: Connection refused");
  CHECK_FALSE(probe.opened);
  CHECK(p->finished());
  CHECK_FALSE(h.lost);
}

TEST_CASE("PORT_CLOSED with an error reports it", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  auto p = h.conn->open_port(port(82), probe.events());
  h.guest_sends(encode_frame(FrameType::kPortOpened, p->stream_id(), "{}"));
  h.guest_sends(encode_frame(FrameType::kPortClosed, p->stream_id(),
                             R"({"error":"Connection reset by peer"})"));
  h.run_until([&] { return probe.closed.has_value(); });
  REQUIRE(probe.closed);
  REQUIRE_FALSE(probe.closed->ok());
  CHECK(probe.closed->error().message.find("reset by peer") != std::string::npos);
}

TEST_CASE("host writes wait for guest credit and resume on CREDIT", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  auto p = h.conn->open_port(port(83), probe.events());
  uint32_t id = p->stream_id();
  bool drained = false;
  p->set_on_write_drained([&] { drained = true; });
  h.host_sent();
  p->write(std::string(kInitialCredit + 1000, 'a'));
  p->shutdown_write();
  auto frames = h.host_sent();
  CHECK(data_bytes(frames, kStdin) == kInitialCredit);
  CHECK(p->write_backlog() == 1000);
  for (const auto& f : frames) CHECK(f.type != FrameType::kEof);  // EOF waits behind the bytes
  CHECK_FALSE(drained);

  h.guest_sends(encode_frame(FrameType::kCredit, id, credit_payload(kStdin, 600)));
  h.run_until([&] { return p->write_backlog() == 400; });
  CHECK(data_bytes(h.host_sent(), kStdin) == 600);
  h.guest_sends(encode_frame(FrameType::kCredit, id, credit_payload(kStdin, 4096)));
  h.run_until([&] { return drained; });
  frames = h.host_sent();
  CHECK(data_bytes(frames, kStdin) == 400);
  REQUIRE_FALSE(frames.empty());
  CHECK(frames.back().type == FrameType::kEof);
  CHECK(p->write_backlog() == 0);
}

TEST_CASE("close() sends PORT_CLOSE, silences the events and ignores late frames",
          "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  auto p = h.conn->open_port(port(84), probe.events());
  uint32_t id = p->stream_id();
  h.guest_sends(encode_frame(FrameType::kPortOpened, id, "{}"));
  h.run_until([&] { return probe.opened; });
  h.host_sent();
  p->close();
  auto frames = h.host_sent();
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == FrameType::kPortClose);
  CHECK(frames[0].stream == id);
  CHECK(p->finished());
  p->write("ignored");
  CHECK(h.host_sent().empty());
  h.guest_sends(encode_frame(FrameType::kData, id, data_payload(kStdout, "late")));
  h.guest_sends(encode_frame(FrameType::kPortClosed, id, "{}"));
  bool pong = false;
  h.conn->ping("p", [&] { pong = true; });
  h.guest_sends(encode_frame(FrameType::kPong, 0, "p"));
  h.run_until([&] { return pong; });
  CHECK(probe.data.empty());
  CHECK_FALSE(probe.closed);
  CHECK_FALSE(h.lost);
}

TEST_CASE("a lost channel closes open port streams with an error", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  auto p = h.conn->open_port(port(85), probe.events());
  ::shutdown(h.guest_fd, SHUT_RDWR);
  h.run_until([&] { return probe.closed.has_value(); });
  REQUIRE(probe.closed);
  CHECK_FALSE(probe.closed->ok());
  CHECK(h.lost);
}

TEST_CASE("open_port on a closed channel or to port 0 fails at once", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe zero;
  auto p0 = h.conn->open_port(port(0), zero.events());
  REQUIRE(zero.closed);
  CHECK_FALSE(zero.closed->ok());
  CHECK(p0->finished());
  h.conn->close(Error(ErrorCode::kCancelled, "bye"));
  PortProbe late;
  auto p = h.conn->open_port(port(80), late.events());
  REQUIRE(late.closed);
  CHECK_FALSE(late.closed->ok());
  CHECK(p->finished());
}

TEST_CASE("guest output beyond a port stream's credit closes the channel",
          "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  PortProbe probe;
  probe.consume = false;
  auto p = h.conn->open_port(port(86), probe.events());
  h.guest_sends(encode_frame(FrameType::kPortOpened, p->stream_id(), "{}"));
  std::string chunk(kMaxDataChunk, 'x');
  for (uint32_t sent = 0; sent <= kInitialCredit; sent += kMaxDataChunk) {
    h.guest_sends(encode_frame(FrameType::kData, p->stream_id(), data_payload(kStdout, chunk)));
  }
  h.run_until([&] { return h.lost.has_value(); });
  REQUIRE(h.lost);
  CHECK(h.lost->message.find("beyond its credit") != std::string::npos);
  REQUIRE(probe.closed);
  CHECK_FALSE(probe.closed->ok());
}

TEST_CASE("hostile frames on a port stream close the channel", "[guest_connection][port]") {
  struct Case {
    const char* what;
    bool open_first;
    std::string frame;
    const char* message;
  };
  const uint32_t id = 1;
  std::vector<Case> cases = {
      {"data before PORT_OPENED", false,
       encode_frame(FrameType::kData, id, data_payload(kStdout, "x")), "before PORT_OPENED"},
      {"EOF before PORT_OPENED", false, encode_frame(FrameType::kEof, id, fd_payload(kStdout)),
       "before PORT_OPENED"},
      {"PORT_OPENED twice", true, encode_frame(FrameType::kPortOpened, id, "{}"), "twice"},
      {"data on the host's fd", true, encode_frame(FrameType::kData, id, data_payload(kStdin, "x")),
       "malformed DATA"},
      {"data on fd 2", true, encode_frame(FrameType::kData, id, data_payload(kStderr, "x")),
       "beyond its credit"},
      {"credit for the guest's own fd", true,
       encode_frame(FrameType::kCredit, id, credit_payload(kStdout, 1)), "malformed CREDIT"},
      {"an exec frame", true, encode_frame(FrameType::kExit, id, i32_payload(0)),
       "unexpected EXIT frame on a port stream"},
      {"EXEC_STARTED", false, encode_frame(FrameType::kExecStarted, id, R"({"pid":1})"),
       "unexpected EXEC_STARTED frame on a port stream"},
      {"a host-only frame", true, encode_frame(FrameType::kPortOpen, id, R"({"port":1})"),
       "unexpected PORT_OPEN"},
      {"a truncated EOF", true, encode_frame(FrameType::kEof, id, ""), "malformed EOF"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.what) {
      FakeGuest h;
      h.handshake();
      PortProbe probe;
      auto p = h.conn->open_port(port(87), probe.events());
      REQUIRE(p->stream_id() == id);
      if (c.open_first) h.guest_sends(encode_frame(FrameType::kPortOpened, id, "{}"));
      h.guest_sends(c.frame);
      h.run_until([&] { return h.lost.has_value(); });
      REQUIRE(h.lost);
      CHECK(h.lost->code == ErrorCode::kProtocol);
      CHECK(h.lost->message.find(c.message) != std::string::npos);
      REQUIRE(probe.closed);
      CHECK_FALSE(probe.closed->ok());
    }
  }
}

TEST_CASE("port frames on an exec stream close the channel", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  auto exec =
      h.conn->open_exec({{"true"}, {}, "/", "", false, 24, 80, false, false, std::nullopt, ""}, {});
  h.guest_sends(encode_frame(FrameType::kPortOpened, exec->stream_id(), "{}"));
  h.run_until([&] { return h.lost.has_value(); });
  REQUIRE(h.lost);
  CHECK(h.lost->message.find("unexpected PORT_OPENED frame on an exec stream") !=
        std::string::npos);
}

TEST_CASE("port frames for unknown streams are ignored", "[guest_connection][port]") {
  FakeGuest h;
  h.handshake();
  h.guest_sends(encode_frame(FrameType::kPortOpened, 77, "{}"));
  h.guest_sends(encode_frame(FrameType::kPortClosed, 77, "{}"));
  h.guest_sends(encode_frame(FrameType::kData, 77, data_payload(kStdout, "x")));
  bool pong = false;
  h.conn->ping("p", [&] { pong = true; });
  h.guest_sends(encode_frame(FrameType::kPong, 0, "p"));
  h.run_until([&] { return pong; });
  CHECK(pong);
  CHECK_FALSE(h.lost);
}
