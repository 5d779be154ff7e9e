// Port forwarding end to end without a VM: TCP clients -> PortForwarder (host listeners) ->
// GuestConnection port streams -> socketpair -> the agent's real PortSession code on a thread ->
// TCP servers on loopback standing in for the guest's services.
#include "sandbox/port_forward.h"

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "guest_agent/in_process_agent.h"
#include "guest_agent/loopback_tcp.h"
#include "guest_client/guest_connection.h"

using namespace matchlock;
using namespace matchlock::sandbox;
using namespace matchlock::testing;

namespace {

// A host loop with a guest channel whose other end is served by the in-process agent.
struct ForwardingRig {
  uv_loop_t loop{};
  std::shared_ptr<guest_client::GuestConnection> conn;
  std::unique_ptr<InProcessAgent> agent;
  std::optional<Error> lost;

  ForwardingRig() {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    conn = guest_client::GuestConnection::create(&loop, UniqueFd(sv[0]),
                                                 [this](const Error& e) { lost = e; });
    agent = std::make_unique<InProcessAgent>(UniqueFd(sv[1]));
  }
  ~ForwardingRig() {
    conn->close(Error(ErrorCode::kCancelled, "test over"));
    conn.reset();
    agent.reset();
    settle();
    CHECK(uv_loop_close(&loop) == 0);  // every handle was closed
  }
  std::unique_ptr<PortForwarder> forward(uint16_t guest_port, uint16_t host_port = 0) {
    auto f = PortForwarder::start(&loop, {{"127.0.0.1", host_port, guest_port}},
                                  guest_port_opener(conn));
    REQUIRE(f.ok());
    return std::move(f.value());
  }
  // Runs the loop until `done` (checked between turns) or a deadline.
  template <typename F>
  bool run_until(F done, int max_ms = 20000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }
  void settle() {
    for (int i = 0; i < 10; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
};

// Serves `connections` clients, each on its own thread: reads until EOF, then answers with
// `reply(request)` and closes.
class ReplyServer {
 public:
  template <typename F>
  ReplyServer(int connections, F reply) : listener_(listen_loopback()) {
    port_ = local_port(listener_.get());
    thread_ = std::thread([this, connections, reply] {
      std::vector<std::thread> workers;
      for (int i = 0; i < connections; ++i) {
        int fd = ::accept(listener_.get(), nullptr, nullptr);
        if (fd < 0) break;
        workers.emplace_back([fd, reply] {
          UniqueFd conn(fd);
          std::string request = recv_all(conn.get());
          send_all(conn.get(), reply(request));
        });
      }
      for (auto& w : workers) w.join();
    });
  }
  ~ReplyServer() { thread_.join(); }
  uint16_t port() const { return port_; }

 private:
  UniqueFd listener_;
  uint16_t port_ = 0;
  std::thread thread_;
};

std::string pattern(size_t size, uint32_t seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    seed = seed * 1103515245 + 12345;
    s[i] = static_cast<char>(seed >> 16);
  }
  return s;
}

}  // namespace

TEST_CASE("a forwarded connection carries a request and its reply, with half-close",
          "[port_forward]") {
  ForwardingRig rig;
  ReplyServer server(1, [](const std::string& req) { return "you said: " + req; });
  auto forwarder = rig.forward(server.port());
  REQUIRE(forwarder->bindings().size() == 1);
  const auto& b = forwarder->bindings()[0];
  CHECK(b.address == "127.0.0.1");
  CHECK(b.host_port != 0);  // 0 asked for any free port; the bound one is reported
  CHECK(b.guest_port == server.port());

  std::atomic<bool> done = false;
  std::string reply;
  std::thread client([&] {
    UniqueFd c = connect_loopback(b.host_port);
    send_all(c.get(), "hello");
    ::shutdown(c.get(), SHUT_WR);  // the server answers only after our EOF
    reply = recv_all(c.get());
    done = true;
  });
  REQUIRE(rig.run_until([&] { return done.load(); }));
  client.join();
  CHECK(reply == "you said: hello");
  REQUIRE(rig.run_until([&] { return forwarder->active_connections() == 0; }));
  CHECK_FALSE(rig.lost);
}

TEST_CASE("megabytes each way pass through the credit windows intact", "[port_forward]") {
  ForwardingRig rig;
  const std::string upload = pattern(3 << 20, 1);
  const std::string download = pattern(5 << 20, 2);
  ReplyServer server(1, [&](const std::string& req) { return req == upload ? download : "bad"; });
  auto forwarder = rig.forward(server.port());
  std::atomic<bool> done = false;
  std::string reply;
  std::thread client([&] {
    UniqueFd c = connect_loopback(forwarder->bindings()[0].host_port);
    send_all(c.get(), upload);
    ::shutdown(c.get(), SHUT_WR);
    // A slow reader at first: the guest side must wait for credit, not buffer everything.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    reply = recv_all(c.get());
    done = true;
  });
  REQUIRE(rig.run_until([&] { return done.load(); }, 60000));
  client.join();
  CHECK(reply.size() == download.size());
  CHECK(reply == download);
  CHECK_FALSE(rig.lost);
}

TEST_CASE("many concurrent forwarded connections stay separate", "[port_forward]") {
  ForwardingRig rig;
  constexpr int kClients = 24;
  ReplyServer server(kClients, [](const std::string& req) { return req + req; });
  auto forwarder = rig.forward(server.port());
  uint16_t port = forwarder->bindings()[0].host_port;
  std::atomic<int> finished = 0;
  std::vector<std::string> replies(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      UniqueFd c = connect_loopback(port);
      send_all(c.get(), pattern(50'000 + i * 1000, i));
      ::shutdown(c.get(), SHUT_WR);
      replies[i] = recv_all(c.get());
      ++finished;
    });
  }
  REQUIRE(rig.run_until([&] { return finished.load() == kClients; }, 60000));
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    std::string sent = pattern(50'000 + i * 1000, i);
    CHECK(replies[i] == sent + sent);
  }
  REQUIRE(rig.run_until([&] { return forwarder->active_connections() == 0; }));
}

TEST_CASE("a guest server that speaks first and closes reaches the client", "[port_forward]") {
  ForwardingRig rig;
  UniqueFd listener = listen_loopback();
  std::thread server([&] {
    UniqueFd c(::accept(listener.get(), nullptr, nullptr));
    send_all(c.get(), "220 banner\r\n");
  });
  auto forwarder = rig.forward(local_port(listener.get()));
  std::atomic<bool> done = false;
  std::string got;
  std::thread client([&] {
    UniqueFd c = connect_loopback(forwarder->bindings()[0].host_port);
    got = recv_all(c.get());  // the banner, then EOF while our side is still open
    send_all(c.get(), "QUIT\r\n");
    ::shutdown(c.get(), SHUT_WR);
    done = true;
  });
  REQUIRE(rig.run_until([&] { return done.load(); }));
  client.join();
  server.join();
  CHECK(got == "220 banner\r\n");
  REQUIRE(rig.run_until([&] { return forwarder->active_connections() == 0; }));
}

TEST_CASE("a refused guest port closes the client promptly", "[port_forward]") {
  ForwardingRig rig;
  auto forwarder = rig.forward(unused_port());
  std::atomic<bool> done = false;
  std::string got;
  int error = 0;
  auto started = std::chrono::steady_clock::now();
  std::thread client([&] {
    UniqueFd c = connect_loopback(forwarder->bindings()[0].host_port);
    got = recv_all(c.get(), &error);
    done = true;
  });
  REQUIRE(rig.run_until([&] { return done.load(); }));
  client.join();
  CHECK(got.empty());
  CHECK(error == ECONNRESET);
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  REQUIRE(rig.run_until([&] { return forwarder->active_connections() == 0; }));
}

TEST_CASE("a lost guest channel resets forwarded clients", "[port_forward]") {
  ForwardingRig rig;
  UniqueFd listener = listen_loopback();
  auto forwarder = rig.forward(local_port(listener.get()));
  std::atomic<bool> connected = false, done = false;
  int error = 0;
  std::thread client([&] {
    UniqueFd c = connect_loopback(forwarder->bindings()[0].host_port);
    connected = true;
    recv_all(c.get(), &error);
    done = true;
  });
  REQUIRE(rig.run_until([&] { return connected && forwarder->active_connections() == 1; }));
  rig.conn->close(Error(ErrorCode::kVm, "the VM exited"));
  REQUIRE(rig.run_until([&] { return done.load(); }));
  client.join();
  CHECK(error == ECONNRESET);
  CHECK(forwarder->active_connections() == 0);
}

TEST_CASE("destroying the forwarder closes its listeners and connections", "[port_forward]") {
  ForwardingRig rig;
  UniqueFd listener = listen_loopback();
  auto forwarder = rig.forward(local_port(listener.get()));
  uint16_t port = forwarder->bindings()[0].host_port;
  std::atomic<bool> connected = false, done = false;
  std::thread client([&] {
    UniqueFd c = connect_loopback(port);
    connected = true;
    recv_all(c.get());
    done = true;
  });
  REQUIRE(rig.run_until([&] { return connected && forwarder->active_connections() == 1; }));
  forwarder.reset();
  REQUIRE(rig.run_until([&] { return done.load(); }));
  client.join();
  CHECK_FALSE(connect_loopback(port));  // nothing listens any more
}

TEST_CASE("a bind failure names the address and leaves nothing bound", "[port_forward]") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  UniqueFd taken = listen_loopback();
  uint16_t busy = local_port(taken.get());
  uint16_t free_port = unused_port();
  {
    auto f = PortForwarder::start(&loop, {{"127.0.0.1", free_port, 80}, {"127.0.0.1", busy, 81}},
                                  nullptr);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().message == "bind local port-forward listener 127.0.0.1:" +
                                   std::to_string(busy) + ": address already in use");
  }
  // The first listener was released with the failure.
  CHECK(listen_loopback(free_port));
  {
    // The same address twice in one set fails the same way.
    auto f = PortForwarder::start(
        &loop, {{"127.0.0.1", free_port, 80}, {"127.0.0.1", free_port, 81}}, nullptr);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().message.find("127.0.0.1:" + std::to_string(free_port)) != std::string::npos);
  }
  {
    auto f = PortForwarder::start(&loop, {{"not-an-ip", 0, 80}}, nullptr);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().message.find("not-an-ip:0") != std::string::npos);
  }
  for (int i = 0; i < 5; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a forwarder without a guest resets its clients", "[port_forward]") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  {
    auto f =
        PortForwarder::start(&loop, {{"127.0.0.1", 0, 80}},
                             guest_port_opener(std::weak_ptr<guest_client::GuestConnection>()));
    REQUIRE(f.ok());
    std::atomic<bool> done = false;
    int error = 0;
    std::thread client([&] {
      UniqueFd c = connect_loopback(f.value()->bindings()[0].host_port);
      recv_all(c.get(), &error);
      done = true;
    });
    for (int i = 0; i < 20000 && !done; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    client.join();
    CHECK(error == ECONNRESET);
  }
  for (int i = 0; i < 5; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
}
