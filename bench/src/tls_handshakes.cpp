// Handshakes per second on the guest-facing side of the TLS interception, measured in memory:
// a client SSL (the guest's part, OpenSSL with default settings) and the engine's guest-facing
// server SSL exchange bytes through a BIO pair, with no network or guest in between. Both ends
// run in this process, so a figure is the cost of the engine's half (key exchange, signature,
// certificate selection) plus the client's half: the engine alone is faster than printed.
// Three cases: a warm leaf cache (one name, minted once), a cold cache (a new name every
// handshake: one P-256 key and one signature more), and a TLS 1.2 client for comparison.
//
// Usage: matchlock-bench-tls [seconds per case, default 2]
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "net/policy/ip_address.h"
#include "net/tls/certificate_authority.h"
#include "net/tls/contexts.h"
#include "net/tls/leaf_cache.h"

using namespace matchlock::net;
using Clock = std::chrono::steady_clock;

namespace {

// Moves bytes between the two ends until both finish the handshake; false on failure.
bool handshake(SSL* client, SSL* server) {
  for (int round = 0; round < 64; ++round) {
    int c = SSL_do_handshake(client);
    int s = SSL_do_handshake(server);
    if (c == 1 && s == 1) return true;
    auto stuck = [](SSL* ssl, int rc) {
      int e = SSL_get_error(ssl, rc);
      return rc != 1 && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE;
    };
    if (stuck(client, c) || stuck(server, s)) return false;
  }
  return false;
}

double run_case(const char* label, SSL_CTX& server_ctx, SSL_CTX& client_ctx, double seconds,
                bool fresh_name_each_time) {
  auto dialled = policy::IpAddress::v4(192, 0, 2, 1);
  size_t done = 0;
  auto start = Clock::now();
  auto deadline = start + std::chrono::duration<double>(seconds);
  while (Clock::now() < deadline) {
    auto server = tls::new_guest_connection(server_ctx, dialled);
    if (!server.ok()) {
      std::fprintf(stderr, "%s: %s\n", label, server.error().message.c_str());
      return 0;
    }
    SSL* client = SSL_new(&client_ctx);
    std::string name = fresh_name_each_time ? "h" + std::to_string(done) + ".bench.test"
                                            : std::string("api.bench.test");
    SSL_set_tlsext_host_name(client, name.c_str());
    BIO *client_bio = nullptr, *server_bio = nullptr;
    BIO_new_bio_pair(&client_bio, 1 << 16, &server_bio, 1 << 16);
    SSL_set_bio(client, client_bio, client_bio);
    SSL_set_bio(server->get(), server_bio, server_bio);
    SSL_set_connect_state(client);
    SSL_set_accept_state(server->get());
    bool ok = handshake(client, server->get());
    SSL_free(client);
    if (!ok) {
      std::fprintf(stderr, "%s: handshake failed\n", label);
      ERR_print_errors_fp(stderr);
      return 0;
    }
    ++done;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  double rate = done / elapsed;
  std::printf("%-34s %8.0f handshakes/s  (%.3f ms each, %zu in %.1f s)\n", label, rate,
              1000.0 / rate, done, elapsed);
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  if (seconds <= 0) seconds = 2.0;
  auto ca = tls::CertificateAuthority::create("bench");
  if (!ca.ok()) return std::fprintf(stderr, "%s\n", ca.error().message.c_str()), 1;
  auto authority = std::make_shared<const tls::CertificateAuthority>(std::move(ca.value()));
  auto server_ctx = tls::make_guest_facing_context(std::make_shared<tls::LeafCache>(authority));
  if (!server_ctx.ok()) return std::fprintf(stderr, "%s\n", server_ctx.error().message.c_str()), 1;

  // The guest's side: verify against the sandbox CA, as a guest with it in its bundle does.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> client13(SSL_CTX_new(TLS_client_method()),
                                                             SSL_CTX_free);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(client13.get()), &authority->certificate());
  SSL_CTX_set_verify(client13.get(), SSL_VERIFY_PEER, nullptr);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> client12(SSL_CTX_new(TLS_client_method()),
                                                             SSL_CTX_free);
  X509_STORE_add_cert(SSL_CTX_get_cert_store(client12.get()), &authority->certificate());
  SSL_CTX_set_verify(client12.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_max_proto_version(client12.get(), TLS1_2_VERSION);

  std::printf("guest-facing TLS handshakes, in memory, %.1f s per case\n", seconds);
  double warm = run_case("TLS 1.3, warm leaf cache", **server_ctx, *client13, seconds, false);
  double cold =
      run_case("TLS 1.3, new name (mints a leaf)", **server_ctx, *client13, seconds, true);
  run_case("TLS 1.2, warm leaf cache", **server_ctx, *client12, seconds, false);
  if (warm > 0 && cold > 0)
    std::printf("minting a leaf adds %.3f ms per new name\n", 1000.0 / cold - 1000.0 / warm);
  return warm > 0 ? 0 : 1;
}
