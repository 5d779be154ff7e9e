// Helpers for the net/tls tests: a CA, a client context that trusts only that CA, and an
// in-process handshake between two SSL objects over a memory BIO pair.
#pragma once

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "net/tls/certificate_authority.h"
#include "net/tls/leaf_cache.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net::test {

inline std::shared_ptr<const tls::CertificateAuthority> make_test_ca(
    const std::string& sandbox_id = "sbx-test") {
  auto ca = tls::CertificateAuthority::create(sandbox_id);
  REQUIRE(ca.ok());
  return std::make_shared<const tls::CertificateAuthority>(std::move(*ca));
}

// A TLS client context that trusts `ca` and nothing else, pinned to `version` (0: 1.2-1.3).
inline tls::SslCtxPtr client_context_trusting(const tls::CertificateAuthority& ca,
                                              int version = 0) {
  tls::SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  REQUIRE(context);
  REQUIRE(X509_STORE_add_cert(SSL_CTX_get_cert_store(context.get()), &ca.certificate()) == 1);
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  if (version != 0) {
    REQUIRE(SSL_CTX_set_min_proto_version(context.get(), version) == 1);
    REQUIRE(SSL_CTX_set_max_proto_version(context.get(), version) == 1);
  }
  return context;
}

// ALPN protocol list in wire form from names.
inline std::string alpn_wire(const std::vector<std::string>& names) {
  std::string wire;
  for (const auto& name : names) {
    wire.push_back(static_cast<char>(name.size()));
    wire += name;
  }
  return wire;
}

// Runs both sides of a handshake over a BIO pair (each SSL owns its end); true if both
// complete. A side that fails fatally ends the run (its alert is left unread).
inline bool handshake_in_memory(SSL* client, SSL* server) {
  BIO* client_end = nullptr;  // ownership passes to the SSLs below
  BIO* server_end = nullptr;
  REQUIRE(BIO_new_bio_pair(&client_end, 0, &server_end, 0) == 1);
  SSL_set_bio(client, client_end, client_end);
  SSL_set_bio(server, server_end, server_end);
  bool client_done = false;
  bool server_done = false;
  auto step = [](SSL* ssl, bool& done) {
    if (done) return true;
    int result = SSL_do_handshake(ssl);
    if (result == 1) {
      done = true;
      return true;
    }
    int error = SSL_get_error(ssl, result);
    return error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE;
  };
  for (int round = 0; round < 50 && !(client_done && server_done); ++round) {
    if (!step(client, client_done) || !step(server, server_done)) break;
  }
  ERR_clear_error();
  return client_done && server_done;
}

// One byte string from client to server over a finished handshake.
inline std::string send_client_to_server(SSL* client, SSL* server, const std::string& bytes) {
  REQUIRE(SSL_write(client, bytes.data(), static_cast<int>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  std::string received(bytes.size() + 16, '\0');
  int n = SSL_read(server, received.data(), static_cast<int>(received.size()));
  REQUIRE(n > 0);
  received.resize(static_cast<size_t>(n));
  return received;
}

}  // namespace matchlock::net::test
