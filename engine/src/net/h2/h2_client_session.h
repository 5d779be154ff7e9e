// The upstream side of an intercepted HTTP/2 connection: requests in, the bytes for the
// upstream server out; its bytes in, responses out per stream.
//
// THREAT MODEL: the upstream server is untrusted too (a guest can reach any allowed host, and
// some are the guest's own). The same bounds as the server side hold: nghttp2's framing and
// messaging checks, bounded header blocks, bodies acknowledged only as consumed. Server push
// is refused in our SETTINGS; 1xx heads are skipped (the guest gets the final one only).
#pragma once

#include <functional>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "net/h2/h2_connection.h"

namespace matchlock::net::h2 {

struct ClientEvents {
  std::function<void(StreamId, ResponseHead)> on_response_head;  // the final (non-1xx) head
  // A piece of the response body: call consume(stream, bytes) once it is dealt with.
  std::function<void(StreamId, std::string_view)> on_response_data;
  std::function<void(StreamId, std::vector<policy::HeaderField> trailers)> on_response_end;
  // Last event of a stream: done both ways (0) or reset (the HTTP/2 error code).
  std::function<void(StreamId, uint32_t error_code)> on_stream_closed;
  // Bytes of the queued request body were framed for the upstream.
  std::function<void(StreamId, size_t)> on_request_data_sent;
};

class H2ClientSession : public H2Connection {
 public:
  H2ClientSession(const H2Limits& limits, ClientEvents events);

  // A new stream for the request (method, scheme, authority, path, headers; host is ignored);
  // with a body, queue_data() and finish() (with trailers) follow.
  Result<StreamId> submit_request(const RequestHead& head, bool with_body);

 private:
  void on_header_block(StreamId stream, std::vector<policy::HeaderField> fields, bool end_stream);

  ClientEvents events_;
  std::unordered_set<StreamId> responses_seen_;  // streams whose final head was delivered
};

}  // namespace matchlock::net::h2
