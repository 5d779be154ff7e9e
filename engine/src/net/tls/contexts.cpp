#include "net/tls/contexts.h"

#include <cstdint>
#include <cstdlib>
#include <optional>
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

// SSL slot: a guest connection's per-connection ALPN choice and its ClientHello hold
// (hold_h2_client_hello). Absent: the context's GuestAlpn decides alone.
struct HelloHold {
  bool hold = false;      // pause after a ClientHello offering h2 with a SNI
  bool paused = false;    // paused now, waiting for release_client_hello
  bool released = false;  // decided: never pause again (TLS 1.3 may send a second hello)
  GuestAlpn alpn = GuestAlpn::kHttp11Only;
  std::string server_name;
};

int hello_hold_slot() {
  static const int slot =
      SSL_get_ex_new_index(0, nullptr, nullptr, dup_slot<HelloHold>, free_slot<HelloHold>);
  return slot;
}

HelloHold* hello_hold_of(SSL* ssl) {
  return static_cast<HelloHold*>(SSL_get_ex_data(ssl, hello_hold_slot()));
}

uint16_t read_u16(std::string_view bytes) {
  return static_cast<uint16_t>((static_cast<unsigned char>(bytes[0]) << 8) |
                               static_cast<unsigned char>(bytes[1]));
}

// The ClientHello extension `type`'s body, after its 2-byte list length (checked against the
// extension), or nullopt.
std::optional<std::string_view> hello_extension_list(SSL* ssl, unsigned int type) {
  const unsigned char* data = nullptr;  // owned by the SSL
  size_t length = 0;
  if (SSL_client_hello_get0_ext(ssl, type, &data, &length) != 1 || length < 2) return std::nullopt;
  std::string_view ext(reinterpret_cast<const char*>(data), length);
  if (read_u16(ext) != length - 2) return std::nullopt;
  return ext.substr(2);
}

// The ClientHello's host_name SNI (RFC 6066 3), validated like any guest SNI, or nullopt.
std::optional<std::string> hello_server_name(SSL* ssl) {
  auto list = hello_extension_list(ssl, TLSEXT_TYPE_server_name);
  if (!list) return std::nullopt;
  std::string_view rest = *list;
  while (rest.size() >= 3) {
    auto type = static_cast<unsigned char>(rest[0]);
    size_t length = read_u16(rest.substr(1));
    if (length > rest.size() - 3) return std::nullopt;
    if (type == TLSEXT_NAMETYPE_host_name) {
      auto name = parse_server_name(rest.substr(3, length));
      if (!name || name->ip) return std::nullopt;
      return name->text;
    }
    rest.remove_prefix(3 + length);
  }
  return std::nullopt;
}

bool hello_offers_h2(SSL* ssl) {
  auto list = hello_extension_list(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation);
  return list && choose_application_protocol(*list).protocol == ApplicationProtocol::kH2;
}

// ClientHello callback: pauses a held handshake (SSL_ERROR_WANT_CLIENT_HELLO_CB) until the
// proxy releases it; OpenSSL keeps the hello and calls this again on resume.
int on_client_hello(SSL* ssl, int* /*alert*/, void* /*arg*/) {
  HelloHold* hold = hello_hold_of(ssl);
  if (hold == nullptr || !hold->hold || hold->released) return SSL_CLIENT_HELLO_SUCCESS;
  if (hold->paused) return SSL_CLIENT_HELLO_RETRY;
  std::optional<std::string> name;
  if (hello_offers_h2(ssl)) name = hello_server_name(ssl);
  if (!name) {
    hold->released = true;  // nothing to wait for: http/1.1 (or no ALPN)
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  hold->server_name = std::move(*name);
  hold->paused = true;
  return SSL_CLIENT_HELLO_RETRY;
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

int select_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_length,
                const unsigned char* offered, unsigned int offered_length, void* arg) {
  std::string_view list(reinterpret_cast<const char*>(offered), offered_length);
  bool h2 = arg != nullptr && *static_cast<const GuestAlpn*>(arg) == GuestAlpn::kH2AndHttp11;
  if (const HelloHold* hold = hello_hold_of(ssl)) h2 = h2 && hold->alpn == GuestAlpn::kH2AndHttp11;
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
  SSL_CTX_set_client_hello_cb(ctx, on_client_hello, nullptr);
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

Status hold_h2_client_hello(SSL& ssl) {
  if (hello_hold_of(&ssl) != nullptr) return {};
  auto hold = std::make_unique<HelloHold>();
  hold->hold = true;
  if (SSL_set_ex_data(&ssl, hello_hold_slot(), hold.get()) != 1) {
    return openssl_error("guest TLS connection: hold ClientHello");
  }
  hold.release();  // owned by the SSL from here on (freed by free_slot)
  return {};
}

std::optional<GuestHello> held_client_hello(SSL& ssl) {
  const HelloHold* hold = hello_hold_of(&ssl);
  if (hold == nullptr || !hold->paused) return std::nullopt;
  return GuestHello{hold->server_name};
}

void release_client_hello(SSL& ssl, GuestAlpn alpn) {
  HelloHold* hold = hello_hold_of(&ssl);
  if (hold == nullptr) {
    if (!hold_h2_client_hello(ssl).ok()) return;
    hold = hello_hold_of(&ssl);
  }
  hold->paused = false;
  hold->released = true;
  hold->alpn = alpn;
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

Result<SslPtr> new_upstream_connection(SSL_CTX& upstream, std::string_view server_name,
                                       bool offer_h2) {
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
  // Wire form: length-prefixed names, h2 first (the server picks; we prefer h2).
  static constexpr unsigned char kH2AndHttp11[] = {2,   'h', '2', 8,   'h', 't',
                                                   't', 'p', '/', '1', '.', '1'};
  if (offer_h2 && SSL_set_alpn_protos(ssl.get(), kH2AndHttp11, sizeof(kH2AndHttp11)) != 0) {
    return openssl_error("upstream TLS connection: ALPN");
  }
  SSL_set_connect_state(ssl.get());
  return ssl;
}

}  // namespace matchlock::net::tls
