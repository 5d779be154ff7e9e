// The host side of the channel against a scripted, hostile "guest" on a socketpair.
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <catch2/catch.hpp>

#include "guest/guest_connection.h"

using namespace matchlock;
using namespace matchlock::channel;

namespace {

guest::GuestConfig test_config() {
  guest::GuestConfig c;
  c.hostname = "h";
  c.hosts_file = "hosts";
  return c;
}

struct Harness {
  uv_loop_t loop{};
  int guest_fd = -1;
  std::shared_ptr<guest::GuestConnection> conn;
  std::optional<Error> lost;

  Harness() {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    guest_fd = sv[1];
    conn = guest::GuestConnection::create(&loop, UniqueFd(sv[0]),
                                          [this](const Error& e) { lost = e; });
  }
  ~Harness() {
    conn.reset();
    ::close(guest_fd);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
  // Writes without blocking: when the socket is full, the host side gets to read (or to close
  // the channel, which ends the write).
  void guest_sends(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n =
          ::send(guest_fd, bytes.data() + off, bytes.size() - off, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (errno == EAGAIN) {
        uv_run(&loop, UV_RUN_NOWAIT);
      } else {
        return;  // the host closed the channel
      }
    }
  }
  // Runs the loop until `done` or nothing is left to do for a few iterations.
  template <typename F>
  void run_until(F done) {
    for (int i = 0; i < 1000 && !done(); ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
  void handshake() {
    bool ready = false;
    conn->handshake(test_config(), [&](Status st) { ready = st.ok(); });
    guest_sends(
        encode_frame(FrameType::kHello, 0,
                     "{\"version\":" + std::to_string(kProtocolVersion) + ",\"agent\":\"test\"}"));
    guest_sends(encode_frame(FrameType::kReady, 0, "{}"));
    run_until([&] { return ready; });
    REQUIRE(ready);
  }
};

}  // namespace

TEST_CASE("handshake completes on HELLO then READY", "[guest_connection]") {
  Harness h;
  h.handshake();
  CHECK(h.conn->ready());
  CHECK(h.conn->agent_version() == "test");
  CHECK_FALSE(h.lost);
}

TEST_CASE("a HELLO with another protocol version fails the boot", "[guest_connection]") {
  Harness h;
  std::optional<Status> result;
  h.conn->handshake(test_config(), [&](Status st) { result = st; });
  h.guest_sends(encode_frame(FrameType::kHello, 0, R"({"version":99})"));
  h.run_until([&] { return result.has_value(); });
  REQUIRE(result);
  CHECK_FALSE(result->ok());
  CHECK(result->error().message.find("protocol version 99") != std::string::npos);
}

TEST_CASE("output beyond the granted credit closes the channel", "[guest_connection]") {
  Harness h;
  h.handshake();
  std::optional<int> error_code;
  guest::ExecEvents ev;
  ev.on_output = [](StreamFd, std::string_view, std::function<void()>) {};  // never consumed
  ev.on_error = [&](const Error&, int code) { error_code = code; };
  auto exec = h.conn->open_exec({{"true"}, {}, "/", "", false, 24, 80, false, false}, ev);
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
  Harness h;
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
    Harness h;
    h.handshake();
    std::optional<Error> exec_error;
    guest::ExecEvents ev;
    ev.on_error = [&](const Error& e, int) { exec_error = e; };
    auto exec = h.conn->open_exec({{"true"}, {}, "/", "", false, 24, 80, false, false}, ev);
    REQUIRE(exec->stream_id() == 1);
    h.guest_sends(bad);
    h.run_until([&] { return h.lost.has_value(); });
    REQUIRE(h.lost);
    CHECK(exec_error);
  }
}

TEST_CASE("frames for unknown streams are ignored", "[guest_connection]") {
  Harness h;
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
  Harness h;
  h.handshake();
  std::string out;
  std::optional<int> code;
  guest::ExecEvents ev;
  ev.on_output = [&](StreamFd, std::string_view b, std::function<void()> consumed) {
    out += b;
    consumed();
  };
  ev.on_exit = [&](int c) { code = c; };
  auto exec = h.conn->open_exec({{"echo"}, {}, "/", "", false, 24, 80, false, false}, ev);
  h.guest_sends(encode_frame(FrameType::kData, 1, data_payload(kStdout, "hi\n")));
  h.guest_sends(encode_frame(FrameType::kEof, 1, fd_payload(kStdout)));
  h.guest_sends(encode_frame(FrameType::kEof, 1, fd_payload(kStderr)));
  h.guest_sends(encode_frame(FrameType::kExit, 1, i32_payload(137)));
  h.run_until([&] { return code.has_value(); });
  CHECK(out == "hi\n");
  CHECK(code == 137);
  CHECK(exec->finished());
}
