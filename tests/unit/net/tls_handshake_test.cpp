// Real TLS handshakes, in process over memory BIOs: an OpenSSL client that trusts only the
// sandbox CA (and checks the host name) against the guest-facing context, and the upstream
// context against the same server.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "net/policy/ip_address.h"
#include "net/tls/alpn.h"
#include "net/tls/contexts.h"
#include "tls_test_util.h"

using namespace matchlock;
using namespace matchlock::net::tls;
using matchlock::net::policy::IpAddress;
using matchlock::net::test::alpn_wire;
using matchlock::net::test::client_context_trusting;
using matchlock::net::test::handshake_in_memory;
using matchlock::net::test::make_test_ca;
using matchlock::net::test::send_client_to_server;

namespace {

struct GuestSide {
  std::shared_ptr<const CertificateAuthority> ca = make_test_ca();
  std::shared_ptr<LeafCache> leaves = std::make_shared<LeafCache>(ca);
  SslCtxPtr context;

  explicit GuestSide(GuestAlpn alpn = GuestAlpn::kHttp11Only) {
    auto made = make_guest_facing_context(leaves, alpn);
    REQUIRE(made.ok());
    context = std::move(*made);
  }

  SslPtr connection(const std::string& dialled = "10.0.2.99") {
    auto ssl = new_guest_connection(*context, *IpAddress::parse(dialled));
    REQUIRE(ssl.ok());
    return std::move(*ssl);
  }
};

// A client SSL from `context` that sends `sni` (if any), offers `alpn` and checks the peer
// against `expected_host`.
SslPtr client_for(SSL_CTX& context, const std::string& sni, const std::string& expected_host,
                  const std::string& alpn = "") {
  SslPtr ssl(SSL_new(&context));
  REQUIRE(ssl);
  if (!sni.empty()) REQUIRE(SSL_set_tlsext_host_name(ssl.get(), sni.c_str()) == 1);
  if (!expected_host.empty()) REQUIRE(SSL_set1_host(ssl.get(), expected_host.c_str()) == 1);
  if (!alpn.empty()) {
    REQUIRE(SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(alpn.data()),
                                static_cast<unsigned>(alpn.size())) == 0);
  }
  SSL_set_connect_state(ssl.get());
  return ssl;
}

std::string client_alpn(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned length = 0;
  SSL_get0_alpn_selected(ssl, &data, &length);
  return data ? std::string(reinterpret_cast<const char*>(data), length) : "";
}

// Sets an environment variable for one scope, restoring the previous value after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace

TEST_CASE("guest-facing handshake succeeds over TLS 1.3 and 1.2 with ALPN h2", "[net][tls]") {
  int version = GENERATE(TLS1_3_VERSION, TLS1_2_VERSION);
  INFO("version " << std::hex << version);
  GuestSide guest(GuestAlpn::kH2AndHttp11);
  auto client_context = client_context_trusting(*guest.ca, version);
  auto client = client_for(*client_context, "api.example.com", "api.example.com",
                           alpn_wire({"http/1.1", "h2"}));
  auto server = guest.connection();

  REQUIRE(handshake_in_memory(client.get(), server.get()));
  CHECK(SSL_version(client.get()) == version);
  CHECK(SSL_get_verify_result(client.get()) == X509_V_OK);
  CHECK(client_alpn(client.get()) == "h2");
  CHECK(negotiated_application_protocol(*server) == ApplicationProtocol::kH2);
  CHECK(send_client_to_server(client.get(), server.get(), "GET / HTTP/1.1\r\n") ==
        "GET / HTTP/1.1\r\n");
  CHECK(guest.leaves->size() == 1);
}

TEST_CASE("guest-facing ALPN falls back to http/1.1 and to none", "[net][tls]") {
  GuestSide guest;
  auto client_context = client_context_trusting(*guest.ca);
  struct Case {
    std::string offered;
    ApplicationProtocol expected;
    std::string client_sees;
  };
  Case cases[] = {
      {alpn_wire({"http/1.1"}), ApplicationProtocol::kHttp11, "http/1.1"},
      {alpn_wire({"spdy/3", "http/1.0"}), ApplicationProtocol::kUnspecified, ""},
      {"", ApplicationProtocol::kUnspecified, ""},
  };
  for (const auto& c : cases) {
    auto client = client_for(*client_context, "api.example.com", "api.example.com", c.offered);
    auto server = guest.connection();
    REQUIRE(handshake_in_memory(client.get(), server.get()));
    CHECK(negotiated_application_protocol(*server) == c.expected);
    CHECK(client_alpn(client.get()) == c.client_sees);
  }
}

TEST_CASE("guest-facing ALPN never selects h2 unless h2 is offered by the context", "[net][tls]") {
  GuestSide guest;  // the default: http/1.1 only
  auto client_context = client_context_trusting(*guest.ca);
  struct Case {
    std::string offered;
    std::string client_sees;
  };
  Case cases[] = {{alpn_wire({"h2", "http/1.1"}), "http/1.1"}, {alpn_wire({"h2"}), ""}};
  for (const auto& c : cases) {
    auto client = client_for(*client_context, "api.example.com", "api.example.com", c.offered);
    auto server = guest.connection();
    REQUIRE(handshake_in_memory(client.get(), server.get()));
    CHECK(client_alpn(client.get()) == c.client_sees);
    CHECK(negotiated_application_protocol(*server) != ApplicationProtocol::kH2);
  }
}

TEST_CASE("guest-facing leaf is refused by a client expecting another host", "[net][tls]") {
  GuestSide guest;
  auto client_context = client_context_trusting(*guest.ca);
  auto client = client_for(*client_context, "api.example.com", "bank.example.com");
  auto server = guest.connection();
  CHECK(!handshake_in_memory(client.get(), server.get()));
  CHECK(SSL_get_verify_result(client.get()) == X509_V_ERR_HOSTNAME_MISMATCH);
}

TEST_CASE("guest without SNI gets the leaf of the address it dialled", "[net][tls]") {
  GuestSide guest;
  auto client_context = client_context_trusting(*guest.ca);
  auto client = client_for(*client_context, "", "");
  REQUIRE(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(client.get()), "192.0.2.10") == 1);
  auto server = guest.connection("192.0.2.10");
  REQUIRE(handshake_in_memory(client.get(), server.get()));
  CHECK(SSL_get_verify_result(client.get()) == X509_V_OK);
}

TEST_CASE("guest-facing handshake with a hostile SNI fails and mints nothing", "[net][tls]") {
  GuestSide guest;
  auto client_context = client_context_trusting(*guest.ca);
  for (std::string sni : {"*.example.com", "evil.com,DNS:bank.example.com", "a b", "x/y"}) {
    INFO("sni: " << sni);
    auto client = client_for(*client_context, sni, "");
    auto server = guest.connection();
    CHECK(!handshake_in_memory(client.get(), server.get()));
  }
  CHECK(guest.leaves->size() == 0);
}

TEST_CASE("guest-facing context alone runs at security level 0", "[net][tls]") {
  GuestSide guest;
  CHECK(SSL_CTX_get_security_level(guest.context.get()) == 0);
  CHECK(SSL_CTX_get_min_proto_version(guest.context.get()) == TLS1_2_VERSION);
  auto upstream = make_upstream_context();
  REQUIRE(upstream.ok());
  CHECK(SSL_CTX_get_security_level(upstream->get()) >= 1);
  CHECK(SSL_CTX_get_min_proto_version(upstream->get()) == TLS1_2_VERSION);
  CHECK(SSL_CTX_get_verify_mode(upstream->get()) == SSL_VERIFY_PEER);
}

TEST_CASE("guest-facing context keeps its leaf cache alive", "[net][tls]") {
  GuestSide guest;
  std::weak_ptr<LeafCache> watch = guest.leaves;
  guest.leaves.reset();
  CHECK(!watch.expired());
  auto server = guest.connection();
  guest.context.reset();  // the SSL still holds the context
  CHECK(!watch.expired());
  server.reset();
  CHECK(watch.expired());
}

TEST_CASE("upstream context verifies a server from SSL_CERT_FILE and checks its name",
          "[net][tls]") {
  GuestSide server_side;  // stands in for the real server: a leaf from our test CA
  auto pem = server_side.ca->certificate_pem();
  REQUIRE(pem.ok());
  char path[] = "/tmp/matchlock-tls-test-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream(path) << *pem;

  {
    ScopedEnv cert_file("SSL_CERT_FILE", path);
    auto upstream = make_upstream_context();
    REQUIRE(upstream.ok());

    auto good = new_upstream_connection(**upstream, "API.example.com.");
    REQUIRE(good.ok());
    auto server = server_side.connection();
    REQUIRE(handshake_in_memory(good->get(), server.get()));
    CHECK(SSL_get_verify_result(good->get()) == X509_V_OK);
    CHECK(std::string(SSL_get_servername(server.get(), TLSEXT_NAMETYPE_host_name)) ==
          "api.example.com");

    // The server presents a leaf for the SNI it got; the name we require is another.
    auto wrong = new_upstream_connection(**upstream, "bank.example.com");
    REQUIRE(wrong.ok());
    REQUIRE(SSL_set_tlsext_host_name(wrong->get(), "api.example.com") == 1);
    auto server2 = server_side.connection();
    CHECK(!handshake_in_memory(wrong->get(), server2.get()));
    CHECK(SSL_get_verify_result(wrong->get()) == X509_V_ERR_HOSTNAME_MISMATCH);

    // An IP literal: no SNI is sent, and the certificate must carry that IP.
    auto by_ip = new_upstream_connection(**upstream, "192.0.2.10");
    REQUIRE(by_ip.ok());
    auto server3 = server_side.connection("192.0.2.10");
    REQUIRE(handshake_in_memory(by_ip->get(), server3.get()));
    CHECK(SSL_get_servername(server3.get(), TLSEXT_NAMETYPE_host_name) == nullptr);
  }
  {
    // Without SSL_CERT_FILE the test CA is not trusted.
    ScopedEnv cert_file("SSL_CERT_FILE", "");
    auto upstream = make_upstream_context();
    REQUIRE(upstream.ok());
    auto untrusted = new_upstream_connection(**upstream, "api.example.com");
    REQUIRE(untrusted.ok());
    auto server = server_side.connection();
    CHECK(!handshake_in_memory(untrusted->get(), server.get()));
    CHECK(SSL_get_verify_result(untrusted->get()) != X509_V_OK);
  }
  std::remove(path);
}

TEST_CASE("upstream context reports an unreadable SSL_CERT_FILE", "[net][tls]") {
  ScopedEnv cert_file("SSL_CERT_FILE", "/nonexistent/matchlock-ca.pem");
  auto upstream = make_upstream_context();
  REQUIRE(!upstream.ok());
  CHECK(upstream.error().message.find("SSL_CERT_FILE=/nonexistent/matchlock-ca.pem") !=
        std::string::npos);
}

TEST_CASE("upstream connection refuses a hostile server name", "[net][tls]") {
  auto upstream = make_upstream_context();
  REQUIRE(upstream.ok());
  CHECK(!new_upstream_connection(**upstream, "").ok());
  CHECK(!new_upstream_connection(**upstream, "*.example.com").ok());
  CHECK(!new_upstream_connection(**upstream, std::string("a\0b", 3)).ok());
}
