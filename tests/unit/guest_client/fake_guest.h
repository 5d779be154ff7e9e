// A scripted, hostile "guest" for unit tests of the host side of the guest channel.
#pragma once

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include "guest_client/guest_connection.h"

namespace matchlock::testing {

using namespace matchlock::guest_protocol;

inline guest_client::GuestConfig test_config() {
  guest_client::GuestConfig c;
  c.hostname = "h";
  c.hosts_file = "hosts";
  return c;
}

// The host's GuestConnection on one end of a socketpair; the test plays the guest on the other,
// sending whatever bytes it likes and reading what the host sent.
struct FakeGuest {
  uv_loop_t loop{};
  int guest_fd = -1;
  std::shared_ptr<guest_client::GuestConnection> conn;
  std::optional<Error> lost;
  FrameDecoder from_host;

  FakeGuest() {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    guest_fd = sv[1];
    conn = guest_client::GuestConnection::create(&loop, UniqueFd(sv[0]),
                                                 [this](const Error& e) { lost = e; });
  }
  ~FakeGuest() {
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
  // Frames the host has sent since the last call (runs the loop first so they are flushed).
  std::vector<Frame> host_sent() {
    char buf[64 * 1024];
    // The host's writes may exceed the socket buffer: alternate loop turns and reads until
    // a turn brings nothing new.
    for (int idle = 0; idle < 2;) {
      uv_run(&loop, UV_RUN_NOWAIT);
      ssize_t n;
      bool got = false;
      while ((n = ::recv(guest_fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        from_host.feed(std::string_view(buf, static_cast<size_t>(n)));
        got = true;
      }
      idle = got ? 0 : idle + 1;
    }
    std::vector<Frame> frames;
    while (auto f = from_host.next()) frames.push_back(std::move(*f));
    return frames;
  }
  void handshake() {
    bool ready = false;
    conn->handshake(test_config(), [&](Status st) { ready = st.ok(); });
    guest_sends(
        encode_frame(FrameType::kHello, 0,
                     "{\"version\":" + std::to_string(kProtocolVersion) + ",\"agent\":\"test\"}"));
    guest_sends(encode_frame(FrameType::kReady, 0, ready_payload(config_token())));
    run_until([&] { return ready; });
    REQUIRE(ready);
  }
  // The "channel_token" of the last CONFIG the host sent ("" if none), as the agent reads it.
  std::string config_token() {
    std::string token;
    for (const auto& f : host_sent()) {
      if (f.type != FrameType::kConfig) continue;
      rapidjson::Document d;
      d.Parse(f.payload.c_str(), f.payload.size());
      if (d.IsObject() && d.HasMember("channel_token") && d["channel_token"].IsString()) {
        token = d["channel_token"].GetString();
      }
    }
    return token;
  }
  static std::string ready_payload(const std::string& token) {
    return "{\"channel_token\":\"" + token + "\"}";
  }
};

}  // namespace matchlock::testing
