// The upstream side of the bridge: response heads to policy, bodies through the BodyFilters to
// the guest, trailers relayed (gRPC's grpc-status lives there), upstream failures.
#include <utility>

#include "net/h2/h2_exchange_bridge.h"

namespace matchlock::net::h2 {

void H2ExchangeBridge::on_response_head(StreamId upstream_id, ResponseHead head) {
  StreamPtr stream = upstream_stream(upstream_id);
  if (!stream || stream->response != ResponsePhase::kAwaitingHead) return;
  stream->exchange->response = {head.status, std::move(head.headers)};
  stream->response = ResponsePhase::kAwaitingDecision;
  policy_.on_response(stream->exchange, [weak_stream = std::weak_ptr<BridgeStream>(stream)](
                                            proxy::ResponseOutcome outcome) {
    StreamPtr stream = weak_stream.lock();
    if (!stream) return;  // the stream (or the whole connection) is gone
    BridgeEntry entry(*stream->bridge);
    stream->bridge->on_response_decided(stream, std::move(outcome));
  });
}

void H2ExchangeBridge::on_response_decided(const StreamPtr& stream,
                                           proxy::ResponseOutcome outcome) {
  if (stream->response != ResponsePhase::kAwaitingDecision) return;  // failed meanwhile
  if (outcome.reply) return reply(stream, *outcome.reply);
  stream->filters = BodyFilterChain(std::move(outcome.body_filters));
  if (stream->filters.needs_whole_body()) {
    stream->response = ResponsePhase::kBufferingWhole;
    std::string held = std::move(stream->response_body);
    stream->response_body.clear();
    if (!hold_whole(*stream, stream->response_body, held)) {
      return fail_upstream_stream(stream, "response body too large to filter");
    }
    settle_response_window(stream);
    if (stream->response_ended) send_whole_response(stream);
    return;
  }
  policy::Response& response = stream->exchange->response;
  // Filters may change the body's length; HTTP/2 frames it without one.
  if (!stream->filters.empty()) policy::remove_header(response.headers, "content-length");
  bool with_body = !(stream->response_ended && stream->response_body.empty() &&
                     stream->response_trailers.empty() && stream->filters.empty());
  if (!guest_.submit_response(stream->guest_id, {response.status, response.headers}, with_body)
           .ok()) {
    return;  // the guest stream is gone: its close finishes the exchange
  }
  stream->response = with_body ? ResponsePhase::kStreaming : ResponsePhase::kEnded;
  if (!with_body) return settle_response_window(stream);
  std::string held = std::move(stream->response_body);
  stream->response_body.clear();
  if (!held.empty()) stream_response(stream, held);
  if (stream->response_ended) end_streamed_response(stream);
  settle_response_window(stream);
}

void H2ExchangeBridge::on_response_data(StreamId upstream_id, std::string_view data) {
  StreamPtr stream = upstream_stream(upstream_id);
  if (!stream) return upstream_.consume(upstream_id, data.size());
  stream->response_unconsumed += data.size();
  switch (stream->response) {
    case ResponsePhase::kAwaitingHead:
    case ResponsePhase::kAwaitingDecision:
      stream->response_body.append(data);
      break;
    case ResponsePhase::kBufferingWhole:
      if (!hold_whole(*stream, stream->response_body, data)) {
        return fail_upstream_stream(stream, "response body too large to filter");
      }
      break;
    case ResponsePhase::kStreaming:
      stream_response(stream, data);
      break;
    case ResponsePhase::kEnded:
      break;
  }
  settle_response_window(stream);
}

void H2ExchangeBridge::on_response_end(StreamId upstream_id,
                                       std::vector<policy::HeaderField> trailers) {
  StreamPtr stream = upstream_stream(upstream_id);
  if (!stream) return;
  stream->response_ended = true;
  stream->response_trailers = std::move(trailers);
  if (stream->response == ResponsePhase::kBufferingWhole) return send_whole_response(stream);
  if (stream->response == ResponsePhase::kStreaming) end_streamed_response(stream);
}

void H2ExchangeBridge::stream_response(const StreamPtr& stream, std::string_view data) {
  std::string out = stream->filters.empty() ? std::string(data) : stream->filters.on_data(data);
  if (out.empty()) return;
  if (guest_.queue_data(stream->guest_id, out).ok()) stream->summary.response_bytes += out.size();
}

void H2ExchangeBridge::end_streamed_response(const StreamPtr& stream) {
  std::string tail = stream->filters.on_end();
  if (!tail.empty() && guest_.queue_data(stream->guest_id, tail).ok()) {
    stream->summary.response_bytes += tail.size();
  }
  (void)guest_.finish(stream->guest_id, std::move(stream->response_trailers));
  stream->response = ResponsePhase::kEnded;
}

// A filter asked for the whole body: it has it now, and the guest gets the result with a
// fixed length.
void H2ExchangeBridge::send_whole_response(const StreamPtr& stream) {
  std::string body = stream->filters.on_data(stream->response_body);
  body += stream->filters.on_end();
  stream->response_body.clear();
  release_whole(*stream);
  policy::Response& response = stream->exchange->response;
  policy::set_header(response.headers, "content-length", std::to_string(body.size()));
  bool with_body = !body.empty() || !stream->response_trailers.empty();
  stream->response = ResponsePhase::kEnded;
  if (!guest_.submit_response(stream->guest_id, {response.status, response.headers}, with_body)
           .ok()) {
    return;
  }
  if (!with_body) return;
  if (guest_.queue_data(stream->guest_id, body).ok()) stream->summary.response_bytes += body.size();
  (void)guest_.finish(stream->guest_id, std::move(stream->response_trailers));
}

// Acknowledges the upstream's body bytes the phase no longer needs held back.
void H2ExchangeBridge::settle_response_window(const StreamPtr& stream) {
  if (stream->upstream_id == 0 || stream->response_unconsumed == 0) return;
  bool release = false;
  switch (stream->response) {
    case ResponsePhase::kAwaitingHead:
    case ResponsePhase::kAwaitingDecision:
      break;
    case ResponsePhase::kBufferingWhole:
    case ResponsePhase::kEnded:
      release = true;
      break;
    case ResponsePhase::kStreaming:
      release = guest_.queued_bytes(stream->guest_id) < kForwardHighWaterBytes;
      break;
  }
  if (release) {
    upstream_.consume(stream->upstream_id, stream->response_unconsumed);
    stream->response_unconsumed = 0;
  }
}

void H2ExchangeBridge::on_upstream_stream_closed(StreamId upstream_id, uint32_t error_code) {
  StreamPtr stream = upstream_stream(upstream_id);
  guest_by_upstream_.erase(upstream_id);
  if (!stream) return;
  if (error_code == 0 && stream->response != ResponsePhase::kAwaitingHead &&
      stream->response_ended) {
    stream->upstream_id = 0;  // complete; what is held goes to the guest as decided
    stream->request = RequestPhase::kDiscarding;  // the upstream wants no more of the request
    return;
  }
  fail_upstream_stream(stream, error_code == 0 ? "upstream stream ended without a response"
                                               : "upstream reset the stream (http/2 error " +
                                                     std::to_string(error_code) + ")");
}

// The upstream stream is gone before the guest's response is complete: a 502 while the guest
// has no head yet, else a reset.
void H2ExchangeBridge::fail_upstream_stream(const StreamPtr& stream, const std::string& error) {
  if (stream->upstream_id != 0) {
    upstream_.reset(stream->upstream_id, H2Error::kCancel);  // no-op when it closed already
    guest_by_upstream_.erase(stream->upstream_id);
    stream->upstream_id = 0;
  }
  if (stream->response == ResponsePhase::kEnded) return;
  if (stream->response != ResponsePhase::kStreaming) return reply(stream, {502, error});
  stream->summary.error = error;
  stream->request = RequestPhase::kDiscarding;
  stream->filters.on_abort();
  guest_.reset(stream->guest_id, H2Error::kInternalError);
  stream->response = ResponsePhase::kEnded;
}

}  // namespace matchlock::net::h2
