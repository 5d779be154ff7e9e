// ALPN on the guest-facing side: which application protocol the guest's TLS connection will
// carry, chosen from the protocols the guest offers.
//
// THREAT MODEL: the offered list is guest bytes. It is walked with every length checked
// against the bytes present; a malformed list selects nothing.
#pragma once

#include <openssl/ssl.h>

#include <string_view>

namespace matchlock::net::tls {

enum class ApplicationProtocol {
  kUnspecified,  // the guest offered no ALPN, or nothing we speak: the guest talks HTTP/1.1
  kHttp11,       // "http/1.1" negotiated
  kH2,           // "h2" negotiated
};

struct AlpnChoice {
  ApplicationProtocol protocol = ApplicationProtocol::kUnspecified;
  std::string_view name;  // points into the offered list; empty when nothing was chosen
};

// `offered` is the ALPN extension's protocol list in wire form (1-byte length + name,
// repeated). h2 is preferred over http/1.1 whatever the guest's order; anything else is never
// selected.
AlpnChoice choose_application_protocol(std::string_view offered);

// What a finished handshake negotiated (for the endpoint that carries the stream).
ApplicationProtocol negotiated_application_protocol(const SSL& ssl);

}  // namespace matchlock::net::tls
