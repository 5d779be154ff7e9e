// The bridge's two connections: bytes and closes the proxy reports, sending what the sessions
// have to send, and closing one side when it is done or the other side went.
#include <utility>

#include "net/h2/h2_exchange_bridge.h"

namespace matchlock::net::h2 {

H2ExchangeBridge::~H2ExchangeBridge() {
  ++depth_;  // no flushing from here on
  for (auto& [id, stream] : streams_) {
    if (stream->summary.error.empty()) stream->summary.error = "connection closed";
    finish_exchange(stream, 0);
  }
}

void H2ExchangeBridge::on_guest_bytes(std::string_view bytes) {
  BridgeEntry entry(*this);
  if (guest_closed_) return;
  (void)guest_.feed(bytes);  // a fatal error leaves the session finished: flush() closes it
}

void H2ExchangeBridge::on_guest_writable() {
  BridgeEntry entry(*this);
}

void H2ExchangeBridge::on_guest_closed() {
  BridgeEntry entry(*this);
  guest_closed_ = true;  // nothing more can be sent to it: no close() either
  close_guest_side();
}

void H2ExchangeBridge::on_upstream_bytes(std::string_view bytes) {
  BridgeEntry entry(*this);
  if (upstream_closed_) return;
  (void)upstream_.feed(bytes);  // a fatal error leaves the session finished: flush() closes it
}

void H2ExchangeBridge::on_upstream_writable() {
  BridgeEntry entry(*this);
}

void H2ExchangeBridge::on_upstream_closed() {
  BridgeEntry entry(*this);
  if (upstream_closed_) return;
  upstream_closed_ = true;
  close_upstream_side();
}

// Sends what both sessions have to send, then closes a connection that is done; a closed side
// may leave the other with more to say (502s, resets), so it goes round until nothing changes.
void H2ExchangeBridge::flush() {
  ++depth_;  // handlers run from take_output() must not flush again
  auto drain = [](H2Connection& session, H2Transport& transport) {
    bool sent = false;
    while (transport.can_send()) {
      std::string out = session.take_output();
      if (out.empty()) break;
      transport.send(std::move(out));
      sent = true;
    }
    return sent;
  };
  for (bool changed = true; changed;) {
    changed = false;
    // Both sides drain on every turn (no short circuit) until neither has output left.
    for (bool sent = true; sent;) {
      bool guest_sent = !guest_closed_ && drain(guest_, guest_transport_);
      bool upstream_sent = !upstream_closed_ && drain(upstream_, upstream_transport_);
      sent = guest_sent || upstream_sent;
    }
    if (!guest_closed_ && guest_.is_finished()) {
      guest_closed_ = true;
      guest_transport_.close();
      close_guest_side();
      changed = true;
    }
    // Without a guest connection the upstream one has no use left.
    if (!upstream_closed_ && (upstream_.is_finished() || guest_closed_)) {
      drain(upstream_, upstream_transport_);
      upstream_closed_ = true;
      upstream_transport_.close();
      close_upstream_side();
      changed = true;
    }
  }
  --depth_;
}

void H2ExchangeBridge::close_guest_side() {
  std::unordered_map<StreamId, StreamPtr> streams = std::move(streams_);
  streams_.clear();
  for (auto& [id, stream] : streams) {
    if (stream->upstream_id != 0) upstream_.reset(stream->upstream_id, H2Error::kCancel);
    if (stream->summary.error.empty() && stream->response != ResponsePhase::kEnded) {
      stream->summary.error = "guest connection closed";
    }
    release_whole(*stream);
    finish_exchange(stream, 0);
  }
  guest_by_upstream_.clear();
}

void H2ExchangeBridge::close_upstream_side() {
  std::unordered_map<StreamId, StreamId> open = std::move(guest_by_upstream_);
  guest_by_upstream_.clear();
  for (auto& [upstream_id, guest_id] : open) {
    if (StreamPtr stream = guest_stream(guest_id)) {
      stream->upstream_id = 0;
      fail_upstream_stream(stream, "upstream connection closed");
    }
  }
}

}  // namespace matchlock::net::h2
