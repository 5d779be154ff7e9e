#include "net/h2/h2_connection.h"

#include <algorithm>
#include <cstring>

namespace matchlock::net::h2 {

// A stream's outgoing body: what is queued and not yet framed, and how it ends.
struct H2Connection::Outbound {
  std::string buffer;
  size_t offset = 0;  // buffer[0, offset) was framed already
  bool ended = false;
  std::vector<policy::HeaderField> trailers;
  size_t pending() const { return buffer.size() - offset; }
};

// A stream's incoming side: the header block being received, body bytes not yet consumed.
struct H2Connection::Inbound {
  std::vector<policy::HeaderField> block;
  size_t block_bytes = 0;
  size_t unconsumed = 0;
};

namespace {

// RFC 9113 6.5.2: the size of a field list counts 32 bytes of overhead per field.
constexpr size_t kFieldOverheadBytes = 32;

H2Connection* self(void* user_data) {
  return static_cast<H2Connection*>(user_data);
}

std::string_view view(const uint8_t* data, size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

Error nghttp2_error(const char* what, int code) {
  return Error(ErrorCode::kInternal, std::string(what) + ": " + nghttp2_strerror(code));
}

}  // namespace

struct H2Connection::Callbacks {
  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    auto& inbound = self(user_data)->inbound_[frame->hd.stream_id];
    if (!inbound) inbound = std::make_unique<Inbound>();
    inbound->block.clear();
    inbound->block_bytes = 0;
    return 0;
  }

  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t name_length, const uint8_t* value, size_t value_length, uint8_t,
                       void* user_data) {
    H2Connection* c = self(user_data);
    auto it = c->inbound_.find(frame->hd.stream_id);
    if (it == c->inbound_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    Inbound& in = *it->second;
    in.block_bytes += name_length + value_length + kFieldOverheadBytes;
    // Over a bound: nghttp2 resets this stream only, the connection goes on.
    if (in.block_bytes > c->limits_.max_header_list_bytes ||
        in.block.size() >= c->limits_.max_header_fields) {
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    in.block.push_back(
        {std::string(view(name, name_length)), std::string(view(value, value_length))});
    return 0;
  }

  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    H2Connection* c = self(user_data);
    StreamId stream = frame->hd.stream_id;
    bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (frame->hd.type == NGHTTP2_HEADERS) {
      auto it = c->inbound_.find(stream);
      if (it == c->inbound_.end()) return 0;
      std::vector<policy::HeaderField> block = std::move(it->second->block);
      it->second->block.clear();
      if (c->events_.on_header_block)
        c->events_.on_header_block(stream, std::move(block), end_stream);
    } else if (frame->hd.type == NGHTTP2_DATA && end_stream) {
      if (c->events_.on_remote_end) c->events_.on_remote_end(stream);
    }
    return 0;
  }

  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t stream, const uint8_t* data,
                           size_t length, void* user_data) {
    H2Connection* c = self(user_data);
    auto it = c->inbound_.find(stream);
    if (it == c->inbound_.end()) {
      // Not a stream we track (never reached a header block): give the window back ourselves.
      nghttp2_session_consume_connection(c->session_.get(), length);
      return 0;
    }
    it->second->unconsumed += length;
    if (c->events_.on_data) c->events_.on_data(stream, view(data, length));
    return 0;
  }

  static int on_stream_close(nghttp2_session*, int32_t stream, uint32_t error_code,
                             void* user_data) {
    H2Connection* c = self(user_data);
    auto it = c->inbound_.find(stream);
    if (it != c->inbound_.end()) {
      // Bytes the consumer will never acknowledge must not shrink the connection window forever.
      if (it->second->unconsumed > 0) {
        nghttp2_session_consume_connection(c->session_.get(), it->second->unconsumed);
      }
      c->inbound_.erase(it);
    }
    c->outbound_.erase(stream);
    if (c->events_.on_stream_closed) c->events_.on_stream_closed(stream, error_code);
    return 0;
  }

  static ssize_t read_body(nghttp2_session*, int32_t stream, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* user_data) {
    return self(user_data)->read_body(stream, buf, length, flags);
  }
};

H2Connection::H2Connection(Role role, const H2Limits& limits, ConnectionEvents events)
    : limits_(limits), events_(std::move(events)) {
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  nghttp2_option* raw_option = nullptr;
  if (nghttp2_session_callbacks_new(&raw_callbacks) != 0 || nghttp2_option_new(&raw_option) != 0) {
    failed_ = true;
    return;
  }
  std::unique_ptr<nghttp2_session_callbacks, void (*)(nghttp2_session_callbacks*)> callbacks(
      raw_callbacks, nghttp2_session_callbacks_del);
  std::unique_ptr<nghttp2_option, void (*)(nghttp2_option*)> option(raw_option, nghttp2_option_del);
  nghttp2_session_callbacks_set_on_begin_headers_callback(raw_callbacks,
                                                          Callbacks::on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(raw_callbacks, Callbacks::on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(raw_callbacks, Callbacks::on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(raw_callbacks,
                                                            Callbacks::on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(raw_callbacks, Callbacks::on_stream_close);
  // Window updates follow consume(), never mere arrival: that is the back-pressure.
  nghttp2_option_set_no_auto_window_update(raw_option, 1);
  nghttp2_option_set_max_send_header_block_length(raw_option, limits_.max_header_list_bytes * 2);

  nghttp2_session* raw_session = nullptr;
  int rv = role == Role::kServer
               ? nghttp2_session_server_new2(&raw_session, raw_callbacks, this, raw_option)
               : nghttp2_session_client_new2(&raw_session, raw_callbacks, this, raw_option);
  if (rv != 0) {
    failed_ = true;
    return;
  }
  session_.reset(raw_session);
  if (!submit_settings(role).ok()) fail();
}

H2Connection::~H2Connection() = default;

Status H2Connection::submit_settings(Role role) {
  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.stream_window_bytes},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_list_bytes},
  };
  if (role == Role::kServer) {
    settings.push_back({NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams});
  } else {
    settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});  // a pushed stream has no exchange
  }
  int rv =
      nghttp2_submit_settings(session_.get(), NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (rv != 0) return nghttp2_error("settings", rv);
  rv = nghttp2_session_set_local_window_size(session_.get(), NGHTTP2_FLAG_NONE, 0,
                                             static_cast<int32_t>(limits_.connection_window_bytes));
  if (rv != 0) return nghttp2_error("connection window", rv);
  return {};
}

void H2Connection::fail() {
  if (failed_) return;
  failed_ = true;
  // Best effort: a GOAWAY for the peer, when the session can still frame one.
  if (session_) nghttp2_session_terminate_session(session_.get(), NGHTTP2_PROTOCOL_ERROR);
}

Status H2Connection::feed(std::string_view bytes) {
  if (failed_) return Error(ErrorCode::kProtocol, "http/2 connection already failed");
  ssize_t rv = nghttp2_session_mem_recv(
      session_.get(), reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  if (rv < 0) {
    fail();
    return Error(ErrorCode::kProtocol,
                 std::string("http/2: ") + nghttp2_strerror(static_cast<int>(rv)));
  }
  return {};
}

std::string H2Connection::take_output() {
  std::string out;
  if (!session_) return out;
  while (out.size() < limits_.max_output_chunk_bytes) {
    const uint8_t* data = nullptr;
    ssize_t n = nghttp2_session_mem_send(session_.get(), &data);
    if (n <= 0) {
      if (n < 0) failed_ = true;
      break;
    }
    out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
  }
  return out;
}

bool H2Connection::is_finished() const {
  if (failed_ || !session_) return true;
  return nghttp2_session_want_read(session_.get()) == 0 &&
         nghttp2_session_want_write(session_.get()) == 0;
}

nghttp2_data_provider H2Connection::body_provider() {
  nghttp2_data_provider provider{};
  provider.read_callback = Callbacks::read_body;
  return provider;
}

Status H2Connection::submit_response_headers(StreamId stream, const OutgoingHeaders& head,
                                             bool with_body) {
  if (failed_) return Error(ErrorCode::kProtocol, "http/2 connection failed");
  std::vector<nghttp2_nv> nv = head.nv();
  nghttp2_data_provider provider = body_provider();
  int rv = nghttp2_submit_response(session_.get(), stream, nv.data(), nv.size(),
                                   with_body ? &provider : nullptr);
  if (rv != 0) return nghttp2_error("response", rv);
  if (with_body) outbound_[stream] = std::make_unique<Outbound>();
  return {};
}

Result<StreamId> H2Connection::submit_request_headers(const OutgoingHeaders& head, bool with_body) {
  if (failed_) return Error(ErrorCode::kProtocol, "http/2 connection failed");
  std::vector<nghttp2_nv> nv = head.nv();
  nghttp2_data_provider provider = body_provider();
  int32_t stream = nghttp2_submit_request(session_.get(), nullptr, nv.data(), nv.size(),
                                          with_body ? &provider : nullptr, nullptr);
  if (stream < 0) return nghttp2_error("request", stream);
  if (with_body) outbound_[stream] = std::make_unique<Outbound>();
  inbound_[stream] = std::make_unique<Inbound>();
  return stream;
}

Status H2Connection::queue_data(StreamId stream, std::string_view data) {
  auto it = outbound_.find(stream);
  if (it == outbound_.end() || it->second->ended) {
    return Error(ErrorCode::kInternal, "http/2 stream has no open outgoing body");
  }
  Outbound& out = *it->second;
  if (out.offset > 0 && out.offset >= out.buffer.size() / 2) {
    out.buffer.erase(0, out.offset);
    out.offset = 0;
  }
  out.buffer.append(data);
  nghttp2_session_resume_data(session_.get(), stream);  // fails harmlessly when not deferred
  return {};
}

Status H2Connection::finish(StreamId stream, std::vector<policy::HeaderField> trailers) {
  auto it = outbound_.find(stream);
  if (it == outbound_.end() || it->second->ended) {
    return Error(ErrorCode::kInternal, "http/2 stream has no open outgoing body");
  }
  it->second->ended = true;
  it->second->trailers = std::move(trailers);
  nghttp2_session_resume_data(session_.get(), stream);
  return {};
}

size_t H2Connection::queued_bytes(StreamId stream) const {
  auto it = outbound_.find(stream);
  return it == outbound_.end() ? 0 : it->second->pending();
}

// Pulled by nghttp2 as the peer's windows allow: copies from the queue, defers when it is empty
// and the body goes on, ends the stream (or hands over to the trailers) when it is drained.
ssize_t H2Connection::read_body(StreamId stream, uint8_t* buf, size_t length, uint32_t* flags) {
  auto it = outbound_.find(stream);
  if (it == outbound_.end()) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  Outbound& out = *it->second;
  size_t n = std::min(length, out.pending());
  if (n == 0 && !out.ended) return NGHTTP2_ERR_DEFERRED;
  std::memcpy(buf, out.buffer.data() + out.offset, n);
  out.offset += n;
  if (out.ended && out.pending() == 0) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!out.trailers.empty()) {
      OutgoingHeaders trailers;
      trailers.add_fields(out.trailers);
      std::vector<nghttp2_nv> nv = trailers.nv();
      if (nghttp2_submit_trailer(session_.get(), stream, nv.data(), nv.size()) == 0) {
        *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      }
    }
  }
  if (n > 0 && events_.on_data_sent) events_.on_data_sent(stream, n);
  return static_cast<ssize_t>(n);
}

void H2Connection::reset(StreamId stream, H2Error code) {
  if (!session_) return;
  nghttp2_submit_rst_stream(session_.get(), NGHTTP2_FLAG_NONE, stream, static_cast<uint32_t>(code));
}

void H2Connection::consume(StreamId stream, size_t bytes) {
  auto it = inbound_.find(stream);
  if (it == inbound_.end() || bytes == 0) return;  // closed: on_stream_close gave it back
  bytes = std::min(bytes, it->second->unconsumed);
  it->second->unconsumed -= bytes;
  nghttp2_session_consume(session_.get(), stream, bytes);
}

void H2Connection::shutdown() {
  if (!session_ || failed_) return;
  nghttp2_submit_goaway(session_.get(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_.get()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
}

}  // namespace matchlock::net::h2
