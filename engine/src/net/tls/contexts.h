// The two TLS contexts of an intercepted connection: the guest-facing server (we impersonate
// the server the guest asked for, with a leaf from the sandbox's CA) and the upstream client
// (we connect to the real server and verify it like any careful client would).
//
// THREAT MODEL:
// - Guest side: the ClientHello is hostile. The SNI picks the leaf only after
//   parse_server_name has accepted it (an unacceptable name fails the handshake); the ALPN
//   list is bounds-checked (alpn.h). Renegotiation, session tickets and the session cache are
//   off: every handshake goes through certificate selection for the name it carries.
//   Security level 0 is deliberate and confined to this context: BusyBox wget sends no
//   signature_algorithms extension, which per RFC 5246 means SHA-1 signatures, refused at any
//   higher level. The guest-facing link never leaves the host (guest <-> engine over a
//   socketpair), so weaker signatures there expose nothing to a network attacker.
// - Upstream side: the real internet. Default security level, TLS >= 1.2, the peer verified
//   against the host's trust store and the exact name (or IP) we dialled for.
#pragma once

#include <memory>
#include <string_view>

#include "core/result.h"
#include "net/policy/ip_address.h"
#include "net/tls/leaf_cache.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net::tls {

// Which application protocols the guest-facing side offers in ALPN. http/1.1 only until the
// HTTP/2 session exists: a guest offered nothing it cannot be served with.
enum class GuestAlpn { kHttp11Only, kH2AndHttp11 };

// Server context for the guest: TLS 1.2 and 1.3, a leaf per ClientHello SNI from `leaves`
// (which the context keeps alive for as long as it or any SSL made from it exists), ALPN as
// `alpn` says, h2 > http/1.1 when both (read the result with negotiated_application_protocol).
Result<SslCtxPtr> make_guest_facing_context(std::shared_ptr<LeafCache> leaves,
                                            GuestAlpn alpn = GuestAlpn::kHttp11Only);

// The server side of one guest connection. `dialled` is the address the guest connected to:
// its leaf (SAN IP:<addr>) is presented when the ClientHello carries no SNI.
Result<SslPtr> new_guest_connection(SSL_CTX& guest_facing, const policy::IpAddress& dialled);

// Client context for upstream servers: verifies against the host trust store (OpenSSL's
// default file and directory) plus SSL_CERT_FILE / SSL_CERT_DIR when set; an SSL_CERT_FILE
// that cannot be loaded is an error, not silently ignored.
Result<SslCtxPtr> make_upstream_context();

// The client side of one upstream connection to `server_name` (host name or IP literal,
// validated like a guest SNI): SNI set (host names only, RFC 6066 forbids IP literals) and the
// peer certificate required to match the name, or the IP.
Result<SslPtr> new_upstream_connection(SSL_CTX& upstream, std::string_view server_name);

}  // namespace matchlock::net::tls
