// UpstreamConnection against real sockets on the host's loopback: a server that accepts TCP
// but never answers the TLS handshake must fail the connection at the setup deadline (the
// guest then gets 502), and a refused port fails at once.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <string>

#include "core/unique_fd.h"
#include "net/proxy/upstream_connection.h"
#include "net/tls/contexts.h"
#include "remote_plugin_test_util.h"

using namespace matchlock;
using namespace matchlock::net;

namespace {

struct Recorder : proxy::UpstreamHandler {
  bool ready = false;
  std::string error;
  void on_upstream_ready() override { ready = true; }
  void on_upstream_data(std::string_view) override {}
  void on_upstream_eof() override {}
  void on_upstream_error(const std::string& why) override { error = why; }
  void on_upstream_drained() override {}
};

// A listening socket on 127.0.0.1 that nobody accepts from: the kernel completes TCP
// handshakes into its backlog, and nothing is ever sent back.
UniqueFd silent_listener(uint16_t& port) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(fd.get(), 8) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

TEST_CASE("an upstream that never completes the TLS handshake fails at the deadline",
          "[proxy][upstream]") {
  policy::testing::TestLoop loop;
  uint16_t port = 0;
  UniqueFd listener = silent_listener(port);
  auto ctx = tls::make_upstream_context();
  REQUIRE(ctx.ok());
  Recorder handler;
  proxy::UpstreamTarget target{Endpoint{0x7f000001, port}, /*tls=*/true, "silent.test"};
  auto connection = std::make_unique<proxy::UpstreamConnection>(
      loop.get(), **ctx, target, handler, [] { return size_t{65536}; }, /*setup_timeout_ms=*/200);
  REQUIRE(loop.run_until([&] { return !handler.error.empty(); }));
  CHECK_FALSE(handler.ready);
  CHECK(handler.error.find("within 200 ms") != std::string::npos);
  CHECK_FALSE(connection->usable());
  connection.reset();
}

TEST_CASE("a refused upstream fails at once, not at the deadline", "[proxy][upstream]") {
  policy::testing::TestLoop loop;
  uint16_t port = 0;
  { UniqueFd closed = silent_listener(port); }  // the port is free again: connects are refused
  auto ctx = tls::make_upstream_context();
  REQUIRE(ctx.ok());
  Recorder handler;
  proxy::UpstreamTarget target{Endpoint{0x7f000001, port}, /*tls=*/false, ""};
  auto connection = std::make_unique<proxy::UpstreamConnection>(
      loop.get(), **ctx, target, handler, [] { return size_t{65536}; }, /*setup_timeout_ms=*/60000);
  REQUIRE(loop.run_until([&] { return !handler.error.empty(); }));
  CHECK(handler.error.find("failed") != std::string::npos);
  connection.reset();
}
