// Reads the SNI from a TLS ClientHello: the first bytes the guest sends on a connection.
//
// THREAT MODEL: every byte is guest-controlled. Every length is checked against the bytes
// actually present before use; nothing is allocated from a claimed length; the parser looks at
// no more than kMaxClientHelloBytes of input and never recurses.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace matchlock::net::sniff {

// A ClientHello (with post-quantum key shares) is typically 0.5-2 KiB; 16 KiB is one full
// TLS record and bounds what a connection can make us buffer before deciding.
constexpr size_t kMaxClientHelloBytes = 16 * 1024;
// TLSPlaintext.length limit (RFC 8446 §5.1).
constexpr size_t kMaxTlsRecordPayload = 16 * 1024;
constexpr size_t kTlsRecordHeaderSize = 5;

struct TlsClientHelloResult {
  enum class Status {
    kNeedMore,     // a valid prefix of a ClientHello; read more bytes
    kClientHello,  // complete, parsed; `server_name` may be empty (no SNI extension)
    kTooLarge,     // looks like a ClientHello but does not complete within the cap
    kNotTls,       // not a TLS handshake record carrying a ClientHello, or malformed
  };
  Status status = Status::kNotTls;
  // host_name from server_name (type 0), normalized (lowercase, no trailing dot) and valid as a
  // host name; empty if absent. An SNI that is present but not a valid name makes the whole
  // hello kNotTls (fail closed: it then only reaches allowed IPs).
  std::string server_name;
};

// The ClientHello may be fragmented over several handshake records (RFC 8446 §5.1); the
// payloads are joined until the handshake message is complete.
TlsClientHelloResult parse_tls_client_hello(std::string_view bytes);

}  // namespace matchlock::net::sniff
