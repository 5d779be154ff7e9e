// Decides what a guest TCP connection carries from its first bytes, on any port.
//
// The caller accumulates the connection's first bytes and calls classify() again whenever
// more arrive, until the kind is not kNeedMore. Inputs longer than the caps are never looked
// at past the cap, so the caller never needs to buffer more than kMaxSniffBytes.
//
// The caller also needs a timeout: protocols where the server speaks first (SSH, SMTP, FTP,
// MySQL) send nothing, so after a short wait with zero bytes the connection is kRaw.
#pragma once

#include <string>
#include <string_view>

#include "net/sniff/http_request_head.h"
#include "net/sniff/tls_client_hello.h"

namespace matchlock::net::sniff {

constexpr size_t kMaxSniffBytes =
    kMaxHttpHeadBytes > kMaxClientHelloBytes ? kMaxHttpHeadBytes : kMaxClientHelloBytes;

enum class TrafficKind {
  kNeedMore,       // a valid prefix of a ClientHello or an HTTP/1.x head
  kTls,            // a ClientHello; `host` is the SNI, empty if none or if the hello
                   // exceeded kMaxClientHelloBytes
  kHttp,           // an HTTP/1.x request head; `host` from the absolute-form target or Host,
                   // empty only for HTTP/1.0 without Host; `http_head` is filled
  kMalformedHttp,  // an HTTP/1.x request line followed by a head we refuse (`reason`):
                   // answer 400 and close, never relay
  kRaw,            // anything else, including HTTP/2 prior knowledge ("PRI * HTTP/2.0")
};

struct Classification {
  TrafficKind kind = TrafficKind::kNeedMore;
  // Lowercased, no port, no brackets, no trailing dot; a valid name or an IP literal.
  std::string host;
  HttpRequestHead http_head;  // kHttp only
  std::string reason;         // kMalformedHttp only
};

Classification classify(std::string_view first_bytes);

}  // namespace matchlock::net::sniff
