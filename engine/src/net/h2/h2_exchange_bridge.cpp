// The guest side of the bridge: request heads to exchanges, policy's request decisions, request
// bodies to the upstream stream, engine-made replies, and the end of each exchange.
#include "net/h2/h2_exchange_bridge.h"

#include <utility>

namespace matchlock::net::h2 {
namespace {

std::weak_ptr<BridgeStream> weak(const std::shared_ptr<BridgeStream>& stream) {
  return stream;
}

}  // namespace

H2ExchangeBridge::H2ExchangeBridge(proxy::ExchangePolicy& policy, BridgeContext context,
                                   H2Transport& guest, H2Transport& upstream,
                                   const H2Limits& limits)
    : policy_(policy),
      context_(std::move(context)),
      guest_transport_(guest),
      upstream_transport_(upstream),
      guest_(
          limits,
          ServerEvents{
              .on_request_head = [this](StreamId s,
                                        RequestHead h) { on_request_head(s, std::move(h)); },
              .on_request_data = [this](StreamId s, std::string_view d) { on_request_data(s, d); },
              .on_request_end =
                  [this](StreamId s, std::vector<policy::HeaderField> t) {
                    on_request_end(s, std::move(t));
                  },
              .on_stream_closed = [this](StreamId s,
                                         uint32_t code) { on_guest_stream_closed(s, code); },
              .on_response_data_sent =
                  [this](StreamId s, size_t) {
                    if (StreamPtr stream = guest_stream(s)) settle_response_window(stream);
                  },
          }),
      upstream_(limits,
                ClientEvents{
                    .on_response_head =
                        [this](StreamId u, ResponseHead h) { on_response_head(u, std::move(h)); },
                    .on_response_data = [this](StreamId u,
                                               std::string_view d) { on_response_data(u, d); },
                    .on_response_end =
                        [this](StreamId u, std::vector<policy::HeaderField> t) {
                          on_response_end(u, std::move(t));
                        },
                    .on_stream_closed =
                        [this](StreamId u, uint32_t code) { on_upstream_stream_closed(u, code); },
                    .on_request_data_sent =
                        [this](StreamId u, size_t) {
                          if (StreamPtr stream = upstream_stream(u)) settle_request_window(stream);
                        },
                }) {
  BridgeEntry entry(*this);  // sends both SETTINGS (and the client preface upstream)
}

void H2ExchangeBridge::on_request_head(StreamId guest_id, RequestHead head) {
  auto stream = std::make_shared<BridgeStream>();
  stream->bridge = this;
  stream->guest_id = guest_id;
  stream->authority = head.authority;
  stream->exchange = std::make_shared<proxy::Exchange>();
  stream->exchange->started = std::chrono::steady_clock::now();
  policy::Request& request = stream->exchange->request;
  request.protocol = policy::Protocol::kHttp;
  request.host = head.host;
  request.sni = context_.sni;
  request.dns_name = context_.dns_name_for ? context_.dns_name_for(request.host) : "";
  request.destination = context_.destination;
  request.port = context_.port;
  request.tls = context_.tls;
  request.method = std::move(head.method);
  request.target = std::move(head.path);
  request.headers = std::move(head.headers);
  request.exchange_id =
      context_.next_exchange_id ? context_.next_exchange_id() : ++local_exchange_ids_;
  streams_[guest_id] = stream;

  if (request.method == "CONNECT") return reply(stream, {400, "CONNECT is not proxied"});
  if (request.host.empty()) return reply(stream, {400, "invalid or missing :authority"});
  if (!context_.sni.empty() && request.host != context_.sni) {
    return reply(stream, {421, "the host does not match the connection's server name"});
  }
  policy_.on_request(stream->exchange, [weak_stream = weak(stream)](proxy::RequestOutcome outcome) {
    StreamPtr stream = weak_stream.lock();
    if (!stream) return;  // the stream (or the whole connection) is gone
    BridgeEntry entry(*stream->bridge);
    stream->bridge->on_request_decided(stream, std::move(outcome));
  });
}

void H2ExchangeBridge::on_request_decided(const StreamPtr& stream, proxy::RequestOutcome outcome) {
  if (stream->request != RequestPhase::kAwaitingDecision) return;  // answered meanwhile
  if (outcome.reply) return reply(stream, *outcome.reply);
  if (stream->exchange->route) {
    // One upstream connection serves the guest connection: a stream cannot go elsewhere.
    return reply(stream, {502, "routing is not supported for HTTP/2 streams"});
  }
  if (outcome.rewrite_body) {
    stream->rewrite_body = std::move(outcome.rewrite_body);
    stream->request = RequestPhase::kBufferingBody;
    std::string held = std::move(stream->request_body);
    stream->request_body.clear();
    if (!hold_whole(*stream, stream->request_body, held)) {
      return reply(stream, {413, "request body too large to transform"});
    }
    settle_request_window(stream);
    if (stream->request_ended) finish_rewrite(stream);
    return;
  }
  start_upstream(stream);
}

void H2ExchangeBridge::on_request_data(StreamId guest_id, std::string_view data) {
  StreamPtr stream = guest_stream(guest_id);
  if (!stream) return guest_.consume(guest_id, data.size());
  stream->request_unconsumed += data.size();
  switch (stream->request) {
    case RequestPhase::kAwaitingDecision:
      stream->request_body.append(data);
      break;
    case RequestPhase::kBufferingBody:
      if (!hold_whole(*stream, stream->request_body, data)) {
        return reply(stream, {413, "request body too large to transform"});
      }
      break;
    case RequestPhase::kForwarding:
      if (upstream_.queue_data(stream->upstream_id, data).ok()) {
        stream->summary.request_bytes += data.size();
      }
      break;
    case RequestPhase::kDiscarding:
      break;
  }
  settle_request_window(stream);
}

void H2ExchangeBridge::on_request_end(StreamId guest_id,
                                      std::vector<policy::HeaderField> trailers) {
  StreamPtr stream = guest_stream(guest_id);
  if (!stream) return;
  stream->request_ended = true;
  stream->request_trailers = std::move(trailers);
  if (stream->request == RequestPhase::kBufferingBody) return finish_rewrite(stream);
  if (stream->request == RequestPhase::kForwarding) {
    (void)upstream_.finish(stream->upstream_id, std::move(stream->request_trailers));
  }
}

void H2ExchangeBridge::finish_rewrite(const StreamPtr& stream) {
  std::string body = std::move(stream->request_body);
  stream->request_body.clear();
  release_whole(*stream);
  if (std::optional<proxy::Reply> refusal = stream->rewrite_body(body)) {
    return reply(stream, *refusal);
  }
  policy::set_header(stream->exchange->request.headers, "content-length",
                     std::to_string(body.size()));
  stream->request_body = std::move(body);  // sent as held: not whole-buffered any more
  start_upstream(stream);
}

// Opens the upstream stream and sends what was held; called once the request may go.
void H2ExchangeBridge::start_upstream(const StreamPtr& stream) {
  if (upstream_closed_ || upstream_.is_finished()) {
    return reply(stream, {502, "upstream connection closed"});
  }
  const policy::Request& request = stream->exchange->request;
  RequestHead head;
  head.method = request.method;
  head.scheme = request.tls ? "https" : "http";
  head.authority = stream->authority;
  head.path = request.target;
  head.headers = request.headers;
  bool with_body =
      !(stream->request_ended && stream->request_body.empty() && stream->request_trailers.empty());
  Result<StreamId> upstream_id = upstream_.submit_request(head, with_body);
  if (!upstream_id.ok()) return reply(stream, {502, "upstream refused a new stream"});
  stream->upstream_id = *upstream_id;
  guest_by_upstream_[*upstream_id] = stream->guest_id;
  stream->request = RequestPhase::kForwarding;
  if (with_body) {
    stream->summary.request_bytes += stream->request_body.size();
    (void)upstream_.queue_data(*upstream_id, stream->request_body);
    if (stream->request_ended) {
      (void)upstream_.finish(*upstream_id, std::move(stream->request_trailers));
    }
  }
  stream->request_body.clear();
  settle_request_window(stream);
}

// Acknowledges the guest's body bytes the phase no longer needs held back.
void H2ExchangeBridge::settle_request_window(const StreamPtr& stream) {
  bool release = false;
  switch (stream->request) {
    case RequestPhase::kAwaitingDecision:
      break;
    case RequestPhase::kBufferingBody:
    case RequestPhase::kDiscarding:
      release = true;
      break;
    case RequestPhase::kForwarding:
      release = upstream_.queued_bytes(stream->upstream_id) < kForwardHighWaterBytes;
      break;
  }
  if (release && stream->request_unconsumed > 0) {
    guest_.consume(stream->guest_id, stream->request_unconsumed);
    stream->request_unconsumed = 0;
  }
}

// The engine answers the stream itself; whatever went upstream is cancelled.
void H2ExchangeBridge::reply(const StreamPtr& stream, const proxy::Reply& reply) {
  stream->summary.replied = reply;
  stream->request = RequestPhase::kDiscarding;
  stream->request_body.clear();
  stream->response_body.clear();
  release_whole(*stream);
  settle_request_window(stream);
  if (stream->upstream_id != 0) {
    upstream_.reset(stream->upstream_id, H2Error::kCancel);
    guest_by_upstream_.erase(stream->upstream_id);
    stream->upstream_id = 0;
  }
  stream->filters.on_abort();
  if (stream->response == ResponsePhase::kStreaming || stream->response == ResponsePhase::kEnded) {
    // The guest has a head already: all that can be said now is that the stream failed.
    guest_.reset(stream->guest_id, H2Error::kInternalError);
    stream->response = ResponsePhase::kEnded;
    return;
  }
  stream->response = ResponsePhase::kEnded;
  std::string body = (reply.reason.empty() ? "request refused" : reply.reason) + "\n";
  ResponseHead head{reply.status,
                    {{"content-type", "text/plain; charset=utf-8"},
                     {"content-length", std::to_string(body.size())}}};
  if (guest_.submit_response(stream->guest_id, head, true).ok()) {
    (void)guest_.queue_data(stream->guest_id, body);
    (void)guest_.finish(stream->guest_id);
  }
}

void H2ExchangeBridge::on_guest_stream_closed(StreamId guest_id, uint32_t error_code) {
  auto it = streams_.find(guest_id);
  if (it == streams_.end()) return;
  StreamPtr stream = it->second;
  streams_.erase(it);
  if (stream->upstream_id != 0) {
    upstream_.reset(stream->upstream_id, H2Error::kCancel);
    guest_by_upstream_.erase(stream->upstream_id);
    stream->upstream_id = 0;
  }
  release_whole(*stream);
  finish_exchange(stream, error_code);
}

// The one place on_finished is called from.
void H2ExchangeBridge::finish_exchange(const StreamPtr& stream, uint32_t error_code) {
  if (stream->finished) return;
  stream->finished = true;
  stream->filters.on_abort();  // a no-op when the body ended
  proxy::ExchangeSummary& summary = stream->summary;
  if (summary.error.empty() && error_code != 0) {
    summary.error = "stream reset (http/2 error " + std::to_string(error_code) + ")";
  }
  if (summary.error.empty() && stream->response != ResponsePhase::kEnded) {
    summary.error = "stream closed before the response ended";
  }
  summary.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - stream->exchange->started);
  policy_.on_finished(*stream->exchange, summary);
}

bool H2ExchangeBridge::hold_whole(BridgeStream& stream, std::string& into, std::string_view piece) {
  if (into.size() + piece.size() > kMaxWholeBodyBytes ||
      whole_bytes_ + piece.size() > kMaxWholeBodiesPerConnectionBytes) {
    return false;
  }
  into.append(piece);
  stream.whole_bytes += piece.size();
  whole_bytes_ += piece.size();
  return true;
}

void H2ExchangeBridge::release_whole(BridgeStream& stream) {
  whole_bytes_ -= stream.whole_bytes;
  stream.whole_bytes = 0;
}

H2ExchangeBridge::StreamPtr H2ExchangeBridge::guest_stream(StreamId guest_id) const {
  auto it = streams_.find(guest_id);
  return it == streams_.end() ? nullptr : it->second;
}

H2ExchangeBridge::StreamPtr H2ExchangeBridge::upstream_stream(StreamId upstream_id) const {
  auto it = guest_by_upstream_.find(upstream_id);
  return it == guest_by_upstream_.end() ? nullptr : guest_stream(it->second);
}

}  // namespace matchlock::net::h2
