// One HTTP/2 connection endpoint over plaintext bytes, in either role, on nghttp2: the bytes
// the peer sent go in through feed(), the bytes to send come out of take_output(); nothing here
// knows about sockets or TLS. The role sessions (h2_server_session, h2_client_session) derive
// from it and turn the raw header blocks below into requests and responses.
//
// THREAT MODEL: the peer (the guest, or an upstream server) is hostile. nghttp2 checks framing,
// HPACK, stream states and HTTP/2 messaging rules (pseudo-headers, lowercase names, forbidden
// fields, content-length against DATA) and limits floods (SETTINGS, PING, RST_STREAM, empty
// frames, CONTINUATION). On top of it this class bounds each header block (H2Limits) and never
// acknowledges body bytes until the consumer has dealt with them (consume()), so the peer's
// flow-control windows, not our memory, absorb a slow consumer. Any fatal error makes the
// connection finished; the caller sends the remaining output (a GOAWAY) and closes.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "net/h2/h2_header_block.h"
#include "net/h2/h2_types.h"

namespace matchlock::net::h2 {

enum class Role { kServer, kClient };

// Called from inside feed() and take_output(). A handler may submit, queue, reset or consume on
// any connection, but must not call feed() or take_output() on this one.
struct ConnectionEvents {
  // A complete header block (pseudo-headers first, as the peer sent them), and whether it ended
  // the stream.
  std::function<void(StreamId, std::vector<policy::HeaderField> fields, bool end_stream)>
      on_header_block;
  std::function<void(StreamId, std::string_view data)> on_data;  // consume() it when dealt with
  std::function<void(StreamId)> on_remote_end;                   // END_STREAM on a DATA frame
  // Last event of a stream: closed both ways (error_code 0) or reset by either side.
  std::function<void(StreamId, uint32_t error_code)> on_stream_closed;
  // Bytes of the stream's queued body were framed for sending (the queue shrank).
  std::function<void(StreamId, size_t bytes)> on_data_sent;
};

class H2Connection {
 public:
  // Queues our SETTINGS (a client also queues the connection preface).
  H2Connection(Role role, const H2Limits& limits, ConnectionEvents events);
  virtual ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Bytes from the peer. An error is fatal: take_output() may still hold a GOAWAY.
  Status feed(std::string_view bytes);
  // Up to H2Limits::max_output_chunk_bytes of frames to send; "" when there is nothing (now).
  std::string take_output();
  // Nothing more to send or receive (both sides said GOAWAY and streams are done, or failed).
  bool is_finished() const;

  // Appends to the stream's outgoing body; sent as flow control allows.
  Status queue_data(StreamId stream, std::string_view data);
  // The outgoing body ends after what is queued; trailers (if any) follow it.
  Status finish(StreamId stream, std::vector<policy::HeaderField> trailers = {});
  size_t queued_bytes(StreamId stream) const;

  void reset(StreamId stream, H2Error code);
  // `bytes` of the stream's received body were dealt with: the peer may send that many more.
  void consume(StreamId stream, size_t bytes);
  // No new streams; the open ones finish.
  void shutdown();
  // Streams with state here (open, or half-closed): bounded by the concurrency limits.
  size_t tracked_streams() const { return inbound_.size(); }

 protected:
  // A head that a body from queue_data()/finish() follows when `with_body`.
  Status submit_response_headers(StreamId stream, const OutgoingHeaders& head, bool with_body);
  Result<StreamId> submit_request_headers(const OutgoingHeaders& head, bool with_body);

 private:
  struct Outbound;
  struct Inbound;
  struct Callbacks;  // nghttp2 callback trampolines
  friend struct Callbacks;

  Status submit_settings(Role role);
  nghttp2_data_provider body_provider();
  ssize_t read_body(StreamId stream, uint8_t* buf, size_t length, uint32_t* flags);
  void fail();

  struct SessionDeleter {
    void operator()(nghttp2_session* session) const { nghttp2_session_del(session); }
  };
  std::unique_ptr<nghttp2_session, SessionDeleter> session_;
  H2Limits limits_;
  ConnectionEvents events_;
  std::unordered_map<StreamId, std::unique_ptr<Outbound>> outbound_;
  std::unordered_map<StreamId, std::unique_ptr<Inbound>> inbound_;
  bool failed_ = false;
};

}  // namespace matchlock::net::h2
