// The guest-facing side of an intercepted HTTP/2 connection: the guest's plaintext bytes (after
// TLS termination, or prior-knowledge h2c) in, requests out per stream; responses in, bytes out.
//
// THREAT MODEL: the guest is hostile and may send anything: no preface or an HTTP/1.1 request
// (a fatal error, never reinterpreted), garbage or truncated frames, floods of streams, resets,
// SETTINGS or PINGs, oversized or malformed header blocks, more body than its window allows.
// nghttp2 enforces the framing and messaging rules; H2Connection bounds header blocks and
// acknowledges body bytes only as the proxy consumes them; SETTINGS_MAX_CONCURRENT_STREAMS
// bounds open streams. A stream whose head breaks the rules is reset, a connection that breaks
// framing gets GOAWAY and is finished. The head's host is re-derived from :authority (or the
// host field) by host_from_authority; an invalid one leaves it empty for the proxy to refuse.
#pragma once

#include <functional>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "net/h2/h2_connection.h"

namespace matchlock::net::h2 {

struct ServerEvents {
  std::function<void(StreamId, RequestHead)> on_request_head;
  // A piece of the request body: call consume(stream, bytes) once it is dealt with.
  std::function<void(StreamId, std::string_view)> on_request_data;
  // The request ended, with its trailers (often none).
  std::function<void(StreamId, std::vector<policy::HeaderField> trailers)> on_request_end;
  // Last event of a stream: done both ways (0) or reset (the HTTP/2 error code).
  std::function<void(StreamId, uint32_t error_code)> on_stream_closed;
  // Bytes of the queued response body were framed for the guest.
  std::function<void(StreamId, size_t)> on_response_data_sent;
};

class H2ServerSession : public H2Connection {
 public:
  H2ServerSession(const H2Limits& limits, ServerEvents events);

  // The response head; with a body, queue_data() and finish() (with trailers) follow.
  Status submit_response(StreamId stream, const ResponseHead& head, bool with_body);

 private:
  void on_header_block(StreamId stream, std::vector<policy::HeaderField> fields, bool end_stream);

  ServerEvents events_;
  std::unordered_set<StreamId> requests_seen_;  // streams whose request head was delivered
};

}  // namespace matchlock::net::h2
