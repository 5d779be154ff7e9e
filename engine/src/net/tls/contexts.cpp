#include "net/tls/contexts.h"

#include <cstdlib>
#include <string>

#include "core/log.h"
#include "net/tls/alpn.h"
#include "net/tls/openssl_error.h"
#include "net/tls/server_name.h"

namespace matchlock::net::tls {
namespace {

// TLS 1.2 suites for our ECDSA leaves (TLS 1.3 suites are OpenSSL's defaults). The CBC-SHA
// suites are for old embedded clients. @SECLEVEL=0: see the threat model in contexts.h.
constexpr const char* kGuestFacingCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:@SECLEVEL=0";

// OpenSSL ex_data slots. Their values are heap objects handed to OpenSSL, which calls the free
// (and, for SSL_dup, the dup) callbacks below, so they live exactly as long as their parent.
template <typename T>
void free_slot(void* /*parent*/, void* value, CRYPTO_EX_DATA*, int, long, void*) {
  std::unique_ptr<T> owned(static_cast<T*>(value));
}

template <typename T>
int dup_slot(CRYPTO_EX_DATA*, const CRYPTO_EX_DATA*, void** value, int, long, void*) {
  if (*value != nullptr) *value = std::make_unique<T>(*static_cast<T*>(*value)).release();
  return 1;
}

// SSL_CTX slot: the guest-facing context's LeafCache, kept alive by the context.
int leaf_cache_slot() {
  static const int slot =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, dup_slot<std::shared_ptr<LeafCache>>,
                               free_slot<std::shared_ptr<LeafCache>>);
  return slot;
}

// SSL slot: the dialled address's text, the leaf's name when the guest sends no SNI.
int dialled_name_slot() {
  static const int slot =
      SSL_get_ex_new_index(0, nullptr, nullptr, dup_slot<std::string>, free_slot<std::string>);
  return slot;
}

// Certificate callback: runs once the ClientHello is parsed, before the server's certificate
// is chosen. Returning 0 aborts the handshake (the guest gets an alert).
int present_leaf(SSL* ssl, void* /*arg*/) {
  auto* leaves = static_cast<std::shared_ptr<LeafCache>*>(
      SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), leaf_cache_slot()));
  if (leaves == nullptr || !*leaves) return 0;
  std::string_view name;
  if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
    name = sni;
  } else if (auto* dialled =
                 static_cast<const std::string*>(SSL_get_ex_data(ssl, dialled_name_slot()))) {
    name = *dialled;
  } else {
    return 0;
  }
  auto leaf = (*leaves)->leaf_for(name);
  if (!leaf) {
    log::debug("tls: guest handshake refused: " + leaf.error().message);
    return 0;
  }
  if (SSL_use_certificate(ssl, (*leaf)->certificate.get()) != 1 ||
      SSL_use_PrivateKey(ssl, (*leaf)->key.get()) != 1) {
    log::debug(openssl_error("tls: present leaf").message);
    return 0;
  }
  return 1;
}

// The ALPN callback's argument: one of these two constants, never freed.
const GuestAlpn kOfferHttp11Only = GuestAlpn::kHttp11Only;
const GuestAlpn kOfferH2AndHttp11 = GuestAlpn::kH2AndHttp11;

// Wire-form ALPN list without "h2" entries (each entry length-checked; a malformed list
// comes back truncated at the first bad entry, which then selects nothing past it).
std::string without_h2(std::string_view offered) {
  std::string kept;
  while (!offered.empty()) {
    size_t length = static_cast<unsigned char>(offered[0]);
    if (length == 0 || length + 1 > offered.size()) break;
    std::string_view name = offered.substr(1, length);
    if (name != "h2") kept.append(offered.substr(0, length + 1));
    offered.remove_prefix(length + 1);
  }
  return kept;
}

int select_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* arg) {
  std::string_view list(reinterpret_cast<const char*>(offered), offered_length);
  bool h2 = arg != nullptr && *static_cast<const GuestAlpn*>(arg) == GuestAlpn::kH2AndHttp11;
  std::string filtered;
  if (!h2) {
    filtered = without_h2(list);
    list = filtered;
  }
  AlpnChoice choice = choose_application_protocol(list);
  if (choice.name.empty()) return SSL_TLSEXT_ERR_NOACK;  // go on without ALPN
  // `out` must point into OpenSSL's `offered`, not our filtered copy: find the same name there.
  if (!h2) {
    std::string_view all(reinterpret_cast<const char*>(offered), offered_length);
    std::string needle =
        std::string(1, static_cast<char>(choice.name.size())) + std::string(choice.name);
    size_t at = all.find(needle);
    if (at == std::string_view::npos) return SSL_TLSEXT_ERR_NOACK;
    choice.name = all.substr(at + 1, choice.name.size());
  }
  *out = reinterpret_cast<const unsigned char*>(choice.name.data());
  *out_length = static_cast<unsigned char>(choice.name.size());
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace

Result<SslCtxPtr> make_guest_facing_context(std::shared_ptr<LeafCache> leaves, GuestAlpn alpn) {
  if (!leaves) return invalid_argument("guest-facing TLS context needs a leaf cache");
  SslCtxPtr context(SSL_CTX_new(TLS_server_method()));
  if (!context) return openssl_error("guest-facing TLS context");
  SSL_CTX* ctx = context.get();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
      SSL_CTX_set_cipher_list(ctx, kGuestFacingCiphers) != 1) {
    return openssl_error("guest-facing TLS context");
  }
  SSL_CTX_set_options(ctx,
                      SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  // The context owns this copy of the shared_ptr from here on (freed by free_slot).
  auto kept = std::make_unique<std::shared_ptr<LeafCache>>(std::move(leaves));
  if (SSL_CTX_set_ex_data(ctx, leaf_cache_slot(), kept.get()) != 1) {
    return openssl_error("guest-facing TLS context");
  }
  kept.release();
  SSL_CTX_set_cert_cb(ctx, present_leaf, nullptr);
  const GuestAlpn* offer = alpn == GuestAlpn::kH2AndHttp11 ? &kOfferH2AndHttp11 : &kOfferHttp11Only;
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, const_cast<GuestAlpn*>(offer));
  return context;
}

Result<SslPtr> new_guest_connection(SSL_CTX& guest_facing, const policy::IpAddress& dialled) {
  SslPtr ssl(SSL_new(&guest_facing));
  if (!ssl) return openssl_error("guest TLS connection");
  auto name = std::make_unique<std::string>(dialled.canonical().to_string());
  if (SSL_set_ex_data(ssl.get(), dialled_name_slot(), name.get()) != 1) {
    return openssl_error("guest TLS connection");
  }
  name.release();  // owned by the SSL from here on (freed by free_slot)
  SSL_set_accept_state(ssl.get());
  return ssl;
}

Result<SslCtxPtr> make_upstream_context() {
  SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) return openssl_error("upstream TLS context");
  SSL_CTX* ctx = context.get();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return openssl_error("upstream TLS context");
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  // The compiled-in trust store, loaded explicitly: SSL_CTX_set_default_verify_paths would let
  // SSL_CERT_FILE / SSL_CERT_DIR replace it, and they are meant to add to it. A missing
  // default file or directory is not an error (minimal hosts); lookups there just find nothing.
  SSL_CTX_load_verify_file(ctx, X509_get_default_cert_file());
  SSL_CTX_load_verify_dir(ctx, X509_get_default_cert_dir());
  clear_openssl_errors();
  if (const char* file = std::getenv(X509_get_default_cert_file_env()); file && *file) {
    if (SSL_CTX_load_verify_file(ctx, file) != 1) {
      return openssl_error(std::string("upstream TLS trust: cannot load ") +
                           X509_get_default_cert_file_env() + "=" + file);
    }
  }
  if (const char* dir = std::getenv(X509_get_default_cert_dir_env()); dir && *dir) {
    // A ':'-separated list of hashed certificate directories, read lazily at verify time.
    if (SSL_CTX_load_verify_dir(ctx, dir) != 1) {
      return openssl_error(std::string("upstream TLS trust: cannot use ") +
                           X509_get_default_cert_dir_env() + "=" + dir);
    }
  }
  return context;
}

Result<SslPtr> new_upstream_connection(SSL_CTX& upstream, std::string_view server_name) {
  auto name = parse_server_name(server_name);
  if (!name) return name.error().with_context("upstream TLS connection");
  SslPtr ssl(SSL_new(&upstream));
  if (!ssl) return openssl_error("upstream TLS connection");
  if (name->ip) {
    size_t length = name->ip->is_v4() ? 4 : 16;
    if (X509_VERIFY_PARAM_set1_ip(SSL_get0_param(ssl.get()), name->ip->bytes().data(), length) !=
        1) {
      return openssl_error("upstream TLS connection: expected IP");
    }
  } else {
    SSL_set_hostflags(ssl.get(), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl.get(), name->text.c_str()) != 1 ||
        SSL_set1_host(ssl.get(), name->text.c_str()) != 1) {
      return openssl_error("upstream TLS connection: server name");
    }
  }
  SSL_set_connect_state(ssl.get());
  return ssl;
}

}  // namespace matchlock::net::tls
