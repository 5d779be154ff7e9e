// The guest-facing handshake held after an h2-offering ClientHello (contexts.h
// hold_h2_client_hello): the proxy learns the upstream's protocol first, then picks the guest's.
#include <catch2/catch.hpp>

#include <string>

#include "net/policy/ip_address.h"
#include "net/tls/alpn.h"
#include "net/tls/contexts.h"
#include "net/tls/tls_session.h"
#include "tls_test_util.h"

using namespace matchlock;
using namespace matchlock::net::tls;
using matchlock::net::policy::IpAddress;
using matchlock::net::test::alpn_wire;
using matchlock::net::test::client_context_trusting;
using matchlock::net::test::make_test_ca;

namespace {

struct HeldHandshake {
  std::shared_ptr<const CertificateAuthority> ca = make_test_ca();
  SslCtxPtr guest_context;
  SslCtxPtr client_context;
  std::optional<TlsSession> server;
  std::optional<TlsSession> client;

  HeldHandshake(GuestAlpn context_alpn, const std::string& sni, const std::string& offered) {
    auto made = make_guest_facing_context(std::make_shared<LeafCache>(ca), context_alpn);
    REQUIRE(made.ok());
    guest_context = std::move(*made);
    auto ssl = new_guest_connection(*guest_context, *IpAddress::parse("10.0.2.99"));
    REQUIRE(ssl.ok());
    REQUIRE(hold_h2_client_hello(**ssl).ok());
    auto wrapped = TlsSession::wrap(std::move(*ssl));
    REQUIRE(wrapped.ok());
    server.emplace(std::move(*wrapped));

    client_context = client_context_trusting(*ca);
    SslPtr client_ssl(SSL_new(client_context.get()));
    if (!sni.empty()) REQUIRE(SSL_set_tlsext_host_name(client_ssl.get(), sni.c_str()) == 1);
    REQUIRE(SSL_set_alpn_protos(client_ssl.get(),
                                reinterpret_cast<const unsigned char*>(offered.data()),
                                static_cast<unsigned>(offered.size())) == 0);
    SSL_set_connect_state(client_ssl.get());
    auto client_wrapped = TlsSession::wrap(std::move(client_ssl));
    REQUIRE(client_wrapped.ok());
    client.emplace(std::move(*client_wrapped));
    REQUIRE(client->feed_ciphertext({}).ok());  // the ClientHello
  }

  // Carries bytes both ways until nothing moves.
  void shuttle() {
    for (int round = 0; round < 20; ++round) {
      std::string to_server = client->take_ciphertext();
      if (!to_server.empty()) REQUIRE(server->feed_ciphertext(to_server).ok());
      std::string to_client = server->take_ciphertext();
      if (!to_client.empty()) REQUIRE(client->feed_ciphertext(to_client).ok());
      if (to_server.empty() && to_client.empty()) return;
    }
  }
};

}  // namespace

TEST_CASE("an h2-offering ClientHello with a SNI holds the handshake until released",
          "[net][tls]") {
  auto [release, expected] =
      GENERATE(std::pair{GuestAlpn::kH2AndHttp11, ApplicationProtocol::kH2},
               std::pair{GuestAlpn::kHttp11Only, ApplicationProtocol::kHttp11});
  HeldHandshake h(GuestAlpn::kH2AndHttp11, "API.example.com", alpn_wire({"h2", "http/1.1"}));
  h.shuttle();
  REQUIRE(h.server->handshake_paused());
  CHECK_FALSE(h.server->handshake_done());
  auto hello = held_client_hello(h.server->ssl());
  REQUIRE(hello);
  CHECK(hello->server_name == "api.example.com");
  h.shuttle();  // nothing moves while held
  CHECK(h.server->handshake_paused());

  release_client_hello(h.server->ssl(), release);
  REQUIRE(h.server->resume_handshake().ok());
  CHECK_FALSE(held_client_hello(h.server->ssl()));
  h.shuttle();
  REQUIRE(h.server->handshake_done());
  REQUIRE(h.client->handshake_done());
  CHECK(h.server->application_protocol() == expected);
  CHECK(h.client->application_protocol() == expected);
}

TEST_CASE("a ClientHello without h2 or without a SNI is not held", "[net][tls]") {
  auto [sni, offered, expected] = GENERATE(
      std::tuple{std::string("api.example.com"), alpn_wire({"http/1.1"}),
                 ApplicationProtocol::kHttp11},
      std::tuple{std::string(""), alpn_wire({"h2", "http/1.1"}), ApplicationProtocol::kHttp11});
  HeldHandshake h(GuestAlpn::kH2AndHttp11, sni, offered);
  h.shuttle();
  CHECK_FALSE(h.server->handshake_paused());
  REQUIRE(h.server->handshake_done());
  CHECK(h.server->application_protocol() == expected);  // never h2 without the upstream's say
}

TEST_CASE("releasing with h2 cannot widen a context that offers http/1.1 only", "[net][tls]") {
  HeldHandshake h(GuestAlpn::kHttp11Only, "api.example.com", alpn_wire({"h2", "http/1.1"}));
  h.shuttle();
  REQUIRE(h.server->handshake_paused());
  release_client_hello(h.server->ssl(), GuestAlpn::kH2AndHttp11);
  REQUIRE(h.server->resume_handshake().ok());
  h.shuttle();
  REQUIRE(h.server->handshake_done());
  CHECK(h.server->application_protocol() == ApplicationProtocol::kHttp11);
}
