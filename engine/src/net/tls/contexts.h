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
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "net/policy/ip_address.h"
#include "net/tls/leaf_cache.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net::tls {

// Which application protocols the guest-facing side may select in ALPN. A context built with
// kH2AndHttp11 still selects h2 on a connection only when that connection says so
// (release_client_hello): the h2 bridge needs an upstream that speaks h2, and that is known only
// once the upstream handshake is done.
enum class GuestAlpn { kHttp11Only, kH2AndHttp11 };

// Server context for the guest: TLS 1.2 and 1.3, a leaf per ClientHello SNI from `leaves`
// (which the context keeps alive for as long as it or any SSL made from it exists), ALPN as
// `alpn` says, h2 > http/1.1 when both (read the result with negotiated_application_protocol).
Result<SslCtxPtr> make_guest_facing_context(std::shared_ptr<LeafCache> leaves,
                                            GuestAlpn alpn = GuestAlpn::kHttp11Only);

// The server side of one guest connection. `dialled` is the address the guest connected to:
// its leaf (SAN IP:<addr>) is presented when the ClientHello carries no SNI.
Result<SslPtr> new_guest_connection(SSL_CTX& guest_facing, const policy::IpAddress& dialled);

// What a held ClientHello says (see hold_h2_client_hello).
struct GuestHello {
  std::string server_name;  // normalized SNI (parse_server_name)
};

// Asks the guest connection `ssl` to pause its handshake right after a ClientHello that offers
// h2 and names a valid SNI (TlsSession::handshake_paused() then turns true), so the proxy can
// dial the upstream and learn whether it speaks h2 before choosing the guest's protocol.
// A ClientHello without h2 or without a (valid) SNI goes on unpaused, selecting http/1.1.
Status hold_h2_client_hello(SSL& ssl);
// The paused handshake's ClientHello, or nullopt when it is not paused.
std::optional<GuestHello> held_client_hello(SSL& ssl);
// Lets the held handshake go on (TlsSession::resume_handshake), selecting h2 only with kH2AndHttp11
// (and a context that allows it). Also fixes the choice for a connection never held.
void release_client_hello(SSL& ssl, GuestAlpn alpn);

// Client context for upstream servers: verifies against the host trust store (OpenSSL's
// default file and directory) plus SSL_CERT_FILE / SSL_CERT_DIR when set; an SSL_CERT_FILE
// that cannot be loaded is an error, not silently ignored.
Result<SslCtxPtr> make_upstream_context();

// The client side of one upstream connection to `server_name` (host name or IP literal,
// validated like a guest SNI): SNI set (host names only, RFC 6066 forbids IP literals) and the
// peer certificate required to match the name, or the IP. `offer_h2`: ALPN offers h2 and
// http/1.1 (read the server's choice with negotiated_application_protocol); else no ALPN.
Result<SslPtr> new_upstream_connection(SSL_CTX& upstream, std::string_view server_name,
                                       bool offer_h2 = false);

}  // namespace matchlock::net::tls
