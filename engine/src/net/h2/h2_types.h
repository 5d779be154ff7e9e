// HTTP/2 for the interception proxy, as byte-in/byte-out sessions over nghttp2 (the TLS layer
// and the sockets belong to the proxy). The parts:
//   h2_connection      one nghttp2 session, either role: frames, flow control, output bytes
//   h2_server_session  the guest-facing side: requests in, responses out
//   h2_client_session  the upstream side: requests out, responses in
//   h2_exchange_bridge guest streams -> ExchangePolicy -> one multiplexed upstream connection
//   h2_transport       what the bridge writes bytes to (the proxy's TLS connections)
// Limits are below; errors are kProtocol (the peer broke HTTP/2) or kInternal (nghttp2 refused).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "net/policy/request.h"

namespace matchlock::net::h2 {

using StreamId = int32_t;

// HTTP/2 error codes (RFC 9113 section 7) this module sends in RST_STREAM and GOAWAY.
enum class H2Error : uint32_t {
  kNoError = 0x0,
  kProtocolError = 0x1,
  kInternalError = 0x2,
  kRefusedStream = 0x7,
  kCancel = 0x8,
};

// Bounds on what one peer can make us hold. Flow-control windows bound each stream's and the
// connection's unconsumed body bytes: a slow consumer stops acknowledging, the peer stops sending.
struct H2Limits {
  uint32_t max_concurrent_streams = 100;
  uint32_t max_header_list_bytes = 64 * 1024;  // names + values + 32 per field (RFC 9113 6.5.2)
  uint32_t max_header_fields = 200;
  uint32_t stream_window_bytes = 256 * 1024;
  uint32_t connection_window_bytes = 1024 * 1024;
  // Output bytes pulled from nghttp2 per take_output(): the transport drains before we frame more.
  size_t max_output_chunk_bytes = 64 * 1024;
};

struct RequestHead {
  std::string method;
  std::string scheme;
  std::string authority;  // as sent (":authority", else the "host" field)
  std::string host;       // authority normalized by host_from_authority; "" when it is invalid
  std::string path;
  std::vector<policy::HeaderField> headers;  // regular fields only, names lowercase
};

struct ResponseHead {
  int status = 0;
  std::vector<policy::HeaderField> headers;  // regular fields only, names lowercase
};

// The client connection preface: what tells an HTTP/2 connection from an HTTP/1.1 one.
inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// True when `bytes` (the start of a connection) is, or could still become, the HTTP/2 preface.
inline bool could_be_h2_preface(std::string_view bytes) {
  size_t n = bytes.size() < kClientPreface.size() ? bytes.size() : kClientPreface.size();
  return bytes.substr(0, n) == kClientPreface.substr(0, n);
}

}  // namespace matchlock::net::h2
