// The agent's port sessions against real loopback TCP servers, with the host played by the test.
#include "port_session.h"

#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "guest_agent/loopback_tcp.h"

using namespace matchlock;
using namespace matchlock::guest_protocol;
using namespace matchlock::testing;
using matchlock::guest_agent::PortSession;

namespace {

struct RecordingSink : guest_agent::FrameSink {
  std::vector<Frame> frames;
  void send(FrameType type, uint32_t stream, std::string_view payload) override {
    frames.push_back({type, stream, std::string(payload)});
  }
  bool has(FrameType type) const {
    for (const auto& f : frames)
      if (f.type == type) return true;
    return false;
  }
  const Frame* last(FrameType type) const {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it)
      if (it->type == type) return &*it;
    return nullptr;
  }
  std::string data(StreamFd fd) const {
    std::string out;
    for (const auto& f : frames) {
      if (f.type != FrameType::kData) continue;
      auto d = parse_data(f.payload);
      if (d && d->fd == fd) out += d->bytes;
    }
    return out;
  }
  uint64_t credit(StreamFd fd) const {
    uint64_t n = 0;
    for (const auto& f : frames) {
      if (f.type != FrameType::kCredit) continue;
      auto c = parse_credit(f.payload);
      if (c && c->fd == fd) n += c->bytes;
    }
    return n;
  }
};

std::string open_request(uint16_t port, const char* address = nullptr) {
  std::string body = "{\"port\":" + std::to_string(port);
  if (address) body += std::string(",\"address\":\"") + address + "\"";
  return body + "}";
}

// Polls the session like the agent's loop does, until `done` or a deadline.
template <typename F>
void drive(PortSession& s, F done, int max_ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    auto request = s.poll_request(true);
    if (!request) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    pollfd p = *request;
    if (::poll(&p, 1, 10) > 0) s.on_poll_ready(p.revents);
  }
}

Frame host_frame(FrameType type, uint32_t stream, std::string payload) {
  return {type, stream, std::move(payload)};
}

}  // namespace

TEST_CASE("port session refuses a port nobody listens on", "[guest_agent][port]") {
  RecordingSink sink;
  PortSession s(5, open_request(unused_port()), sink);
  drive(s, [&] { return s.finished(); });
  REQUIRE(s.finished());
  const Frame* error = sink.last(FrameType::kError);
  REQUIRE(error);
  CHECK(error->stream == 5);
  CHECK(error->payload.find("refused") != std::string::npos);
  CHECK_FALSE(sink.has(FrameType::kPortOpened));
}

TEST_CASE("port session rejects bad or non-loopback targets", "[guest_agent][port]") {
  const std::pair<std::string, const char*> cases[] = {
      {"not json", "JSON"},
      {"{}", "port"},
      {R"({"port":0})", "port"},
      {R"({"port":70000})", "port"},
      {R"({"port":-1})", "port"},
      {R"({"port":"80"})", "port"},
      {R"({"port":80,"address":"10.0.2.2"})", "not a loopback"},
      {R"({"port":80,"address":"0.0.0.0"})", "not a loopback"},
      {R"({"port":80,"address":"2001:db8::1"})", "not a loopback"},
      {R"({"port":80,"address":"example.com"})", "not an IP address"},
      {R"({"port":80,"address":7})", "IP address"},
  };
  for (const auto& [request, message] : cases) {
    RecordingSink sink;
    PortSession s(1, request, sink);
    CHECK(s.finished());
    REQUIRE(sink.frames.size() == 1);
    CHECK(sink.frames[0].type == FrameType::kError);
    INFO(request << " -> " << sink.frames[0].payload);
    CHECK(sink.frames[0].payload.find(message) != std::string::npos);
  }
}

TEST_CASE("port session relays both ways, half-closes, and ends with PORT_CLOSED",
          "[guest_agent][port]") {
  UniqueFd listener = listen_loopback();
  RecordingSink sink;
  PortSession s(3, open_request(local_port(listener.get()), "127.0.0.1"), sink);
  // Bytes and EOF may arrive before the connect completes.
  s.on_frame(host_frame(FrameType::kData, 3, data_payload(kStdin, "ping")));
  s.on_frame(host_frame(FrameType::kEof, 3, fd_payload(kStdin)));
  UniqueFd server(::accept(listener.get(), nullptr, nullptr));
  REQUIRE(server);
  drive(s, [&] { return sink.has(FrameType::kPortOpened) && sink.credit(kStdin) == 4; });
  CHECK(sink.frames.front().type == FrameType::kPortOpened);
  CHECK(sink.credit(kStdin) == 4);  // credit back only for bytes the socket took

  CHECK(recv_all(server.get()) == "ping");  // EOF reached the server: recv_all returned
  REQUIRE(send_all(server.get(), "pong"));
  ::shutdown(server.get(), SHUT_WR);
  drive(s, [&] { return s.finished(); });
  CHECK(sink.data(kStdout) == "pong");
  const Frame* eof = sink.last(FrameType::kEof);
  REQUIRE(eof);
  CHECK(parse_fd(eof->payload) == kStdout);
  REQUIRE(sink.frames.back().type == FrameType::kPortClosed);
  CHECK(sink.frames.back().payload == "{}");
  CHECK(s.finished());
}

TEST_CASE("port session reads no more than the host's credit", "[guest_agent][port]") {
  UniqueFd listener = listen_loopback();
  RecordingSink sink;
  PortSession s(7, open_request(local_port(listener.get())), sink);
  UniqueFd server(::accept(listener.get(), nullptr, nullptr));
  const std::string big(kInitialCredit + 100 * 1024, 'z');
  std::thread writer([&] {
    send_all(server.get(), big);
    ::shutdown(server.get(), SHUT_WR);
  });
  drive(s, [&] { return sink.data(kStdout).size() == kInitialCredit; });
  // Give it time to overrun if it were going to.
  drive(
      s, [] { return false; }, 100);
  CHECK(sink.data(kStdout).size() == kInitialCredit);
  CHECK_FALSE(s.poll_request(true).has_value());  // nothing to wait for without credit

  s.on_frame(host_frame(FrameType::kCredit, 7, credit_payload(kStdout, 1 << 20)));
  drive(s, [&] { return sink.has(FrameType::kEof); });
  writer.join();
  CHECK(sink.data(kStdout) == big);
  CHECK_FALSE(s.finished());  // the host has not sent its EOF yet
  s.on_frame(host_frame(FrameType::kEof, 7, fd_payload(kStdin)));
  CHECK(s.finished());
  CHECK(sink.frames.back().type == FrameType::kPortClosed);
}

TEST_CASE("port session gives up on a host that ignores its credit", "[guest_agent][port]") {
  UniqueFd listener = listen_loopback();
  RecordingSink sink;
  PortSession s(9, open_request(local_port(listener.get())), sink);
  UniqueFd server(::accept(listener.get(), nullptr, nullptr));
  drive(s, [&] { return sink.has(FrameType::kPortOpened); });
  // The server never reads; the socket buffers fill, then the pending bytes grow past the cap.
  std::string chunk(kMaxDataChunk, 'h');
  for (int i = 0; i < 200 && !s.finished(); ++i) {
    s.on_frame(host_frame(FrameType::kData, 9, data_payload(kStdin, chunk)));
  }
  REQUIRE(s.finished());
  const Frame* closed = sink.last(FrameType::kPortClosed);
  REQUIRE(closed);
  CHECK(closed->payload.find("beyond its credit") != std::string::npos);
}

TEST_CASE("PORT_CLOSE ends the session without a reply", "[guest_agent][port]") {
  UniqueFd listener = listen_loopback();
  RecordingSink sink;
  PortSession s(11, open_request(local_port(listener.get())), sink);
  UniqueFd server(::accept(listener.get(), nullptr, nullptr));
  drive(s, [&] { return sink.has(FrameType::kPortOpened); });
  size_t before = sink.frames.size();
  s.on_frame(host_frame(FrameType::kPortClose, 11, ""));
  CHECK(s.finished());
  CHECK(sink.frames.size() == before);
  CHECK(recv_all(server.get()).empty());  // the server sees the connection end
  s.on_frame(host_frame(FrameType::kData, 11, data_payload(kStdin, "late")));
  CHECK(sink.frames.size() == before);
}

TEST_CASE("a server reset ends the session with an error", "[guest_agent][port]") {
  UniqueFd listener = listen_loopback();
  RecordingSink sink;
  PortSession s(13, open_request(local_port(listener.get())), sink);
  UniqueFd server(::accept(listener.get(), nullptr, nullptr));
  drive(s, [&] { return sink.has(FrameType::kPortOpened); });
  linger reset{1, 0};
  ::setsockopt(server.get(), SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  server.reset();
  drive(s, [&] { return s.finished(); });
  REQUIRE(s.finished());
  const Frame* closed = sink.last(FrameType::kPortClosed);
  REQUIRE(closed);
  CHECK(closed->payload.find("error") != std::string::npos);
}
