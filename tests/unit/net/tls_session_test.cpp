// TlsSession: a guest-facing server session against an upstream client session, entirely in
// memory, and what garbage does to a session (an error, never a crash).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "net/policy/ip_address.h"
#include "net/tls/contexts.h"
#include "net/tls/tls_session.h"
#include "tls_test_util.h"

using namespace matchlock;
using namespace matchlock::net::tls;
using matchlock::net::policy::IpAddress;
using matchlock::net::test::make_test_ca;

namespace {

// The upstream context trusts the test CA through SSL_CERT_FILE, as the engine would.
struct Pair {
  std::shared_ptr<const CertificateAuthority> ca = make_test_ca();
  SslCtxPtr server_context;
  SslCtxPtr client_context;
  std::optional<TlsSession> server;
  std::optional<TlsSession> client;

  explicit Pair(const std::string& name = "api.example.com") {
    auto guest = make_guest_facing_context(std::make_shared<LeafCache>(ca));
    REQUIRE(guest.ok());
    server_context = std::move(*guest);
    char path[] = "/tmp/matchlock-tls-session-XXXXXX";
    int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(path) << *ca->certificate_pem();
    const char* old = std::getenv("SSL_CERT_FILE");
    std::string saved = old ? old : "";
    setenv("SSL_CERT_FILE", path, 1);
    auto upstream = make_upstream_context();
    old ? setenv("SSL_CERT_FILE", saved.c_str(), 1) : unsetenv("SSL_CERT_FILE");
    std::remove(path);
    REQUIRE(upstream.ok());
    client_context = std::move(*upstream);
    auto s = new_guest_connection(*server_context, *IpAddress::parse("10.0.2.99"));
    auto c = new_upstream_connection(*client_context, name);
    REQUIRE(s.ok());
    REQUIRE(c.ok());
    auto ws = TlsSession::wrap(std::move(*s));
    auto wc = TlsSession::wrap(std::move(*c));
    REQUIRE(ws.ok());
    REQUIRE(wc.ok());
    server.emplace(std::move(*ws));
    client.emplace(std::move(*wc));
  }

  // Moves ciphertext both ways until neither side has any; false if a side failed.
  bool shuttle() {
    REQUIRE(client->feed_ciphertext({}).ok());  // starts the client's handshake
    for (int round = 0; round < 20; ++round) {
      std::string to_server = client->take_ciphertext();
      std::string to_client = server->take_ciphertext();
      if (to_server.empty() && to_client.empty()) return true;
      if (!to_server.empty() && !server->feed_ciphertext(to_server).ok()) return false;
      if (!to_client.empty() && !client->feed_ciphertext(to_client).ok()) return false;
    }
    return true;
  }
};

std::string read_all(TlsSession& s) {
  std::string out;
  auto n = s.read_plaintext(out, 1 << 20);
  REQUIRE(n.ok());
  return out;
}

}  // namespace

TEST_CASE("TlsSession server and client handshake and carry data both ways", "[net][tls]") {
  Pair p;
  // Written before the handshake: queued, then sent once it is done.
  REQUIRE(p.client->write_plaintext("GET / HTTP/1.1\r\n\r\n").ok());
  REQUIRE(p.shuttle());
  CHECK(p.server->handshake_done());
  CHECK(p.client->handshake_done());
  CHECK(p.client->verify_result() == "ok");
  CHECK(read_all(*p.server) == "GET / HTTP/1.1\r\n\r\n");
  REQUIRE(p.server->write_plaintext(std::string(100000, 'x')).ok());
  REQUIRE(p.shuttle());
  CHECK(read_all(*p.client) == std::string(100000, 'x'));
  p.server->close_notify();
  REQUIRE(p.shuttle());
  read_all(*p.client);
  CHECK(p.client->peer_closed());
}

TEST_CASE("TlsSession client refuses a certificate for another name", "[net][tls]") {
  Pair p("api.example.com");
  // The server presents the leaf of the SNI, so make the client expect another name.
  REQUIRE(SSL_set1_host(&p.client->ssl(), "bank.example.com") == 1);
  CHECK(!p.shuttle());
  CHECK(p.client->failed());
  CHECK(p.client->verify_result() != "ok");
}

TEST_CASE("TlsSession fails cleanly on garbage and stays failed", "[net][tls]") {
  Pair p;
  std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  for (int i = 0; i < 50; ++i) garbage += static_cast<char>(i * 37);
  CHECK(!p.server->feed_ciphertext(garbage).ok());
  CHECK(p.server->failed());
  CHECK(!p.server->feed_ciphertext("more").ok());
  std::string out;
  CHECK(!p.server->read_plaintext(out, 100).ok());
  CHECK(!p.server->write_plaintext("x").ok());
}

TEST_CASE("TlsSession bounds unread ciphertext", "[net][tls]") {
  Pair p;
  // A plausible record header announcing a large record, then more than the bound.
  std::string big = "\x16\x03\x01\x40\x00";
  big += std::string(kMaxBufferedCiphertext, 'A');
  CHECK(!p.server->feed_ciphertext(big).ok());
  CHECK(p.server->failed());
}

TEST_CASE("TlsSession reports the negotiated ALPN", "[net][tls]") {
  Pair p;
  std::string alpn = matchlock::net::test::alpn_wire({"h2", "http/1.1"});
  REQUIRE(SSL_set_alpn_protos(&p.client->ssl(), reinterpret_cast<const unsigned char*>(alpn.data()),
                              static_cast<unsigned>(alpn.size())) == 0);
  REQUIRE(p.shuttle());
  // The guest-facing default offers http/1.1 only.
  CHECK(p.server->application_protocol() == ApplicationProtocol::kHttp11);
}
