#include "net/nat/upstream_relay.h"

#include <string_view>

#include "core/log.h"

namespace matchlock::net {

UpstreamRelay::UpstreamRelay(std::unique_ptr<UpstreamSocket> socket, bool connected)
    : socket_(std::move(socket)),
      phase_(connected ? UpstreamPhase::kOpen : UpstreamPhase::kConnecting) {
  if (!connected) socket_->on_connected([this](int status) { on_connected(status); });
}

void UpstreamRelay::start(GuestSide& guest) {
  guest_ = &guest;
  start_reads();
}

void UpstreamRelay::on_connected(int status) {
  if (phase_ != UpstreamPhase::kConnecting) return;  // reset meanwhile
  if (status != 0) {
    log::debug("net: upstream connect to " + ipv4_text(socket_->remote().ip) + ":" +
               std::to_string(socket_->remote().port) + " failed: " + uv::error_text(status));
    if (guest_)
      return guest_->reset_connection();  // the guest's handshake is done: reset it (and us)
    return reset();
  }
  phase_ = *next(phase_, UpstreamEvent::kConnected);
  if (!pending_.empty()) {
    write(GuestBytes(std::move(pending_), pending_credit_));
    pending_.clear();
    pending_credit_ = 0;
    if (!active()) return;  // the write failed and reset the connection
  }
  if (send_ == UpstreamSend::kShutdownWanted) shutdown();
  start_reads();
}

void UpstreamRelay::on_bytes(GuestBytes bytes) {
  switch (phase_) {
    case UpstreamPhase::kClosed:
      return guest_->credit(bytes.credit());  // nowhere to go: dropped
    case UpstreamPhase::kConnecting:
      pending_credit_ += bytes.credit();
      pending_ += bytes.take_string();
      return;
    case UpstreamPhase::kOpen:
      return write(std::move(bytes));
  }
}

void UpstreamRelay::write(GuestBytes bytes) {
  size_t credit = bytes.credit();
  if (bytes.size() == 0) return guest_->credit(credit);
  int rc = socket_->write(std::move(bytes), [this, credit](int status) {
    if (status != 0) return guest_->reset_connection();
    guest_->credit(credit);
  });
  if (rc != 0) guest_->reset_connection();
}

void UpstreamRelay::on_guest_fin() {
  switch (phase_) {
    case UpstreamPhase::kConnecting:
      send_ = *next(send_, UpstreamSendEvent::kWant);  // after the queued bytes are written
      return;
    case UpstreamPhase::kClosed:
      return guest_->stream_delivered();
    case UpstreamPhase::kOpen:
      return shutdown();
  }
}

void UpstreamRelay::shutdown() {
  auto issued = next(send_, UpstreamSendEvent::kIssue);
  if (!issued) return;  // already issued
  send_ = *issued;
  int rc = socket_->shutdown([this] {
    send_ = *next(send_, UpstreamSendEvent::kDone);
    guest_->stream_delivered();
  });
  if (rc != 0) {
    send_ = *next(send_, UpstreamSendEvent::kDone);  // socket already unusable: nothing to flush
    guest_->stream_delivered();
  }
}

void UpstreamRelay::start_reads() {
  if (reading_ != Reading::kPaused || phase_ != UpstreamPhase::kOpen || !guest_) return;
  reading_ = Reading::kReading;
  socket_->start_reads([this] { return guest_->room(); },
                       [this](ssize_t nread, const uv_buf_t* buf) { on_read(nread, buf); });
}

void UpstreamRelay::stop_reads() {
  if (reading_ != Reading::kReading) return;
  socket_->stop_reads();
  reading_ = Reading::kPaused;
}

void UpstreamRelay::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (nread == UV_ENOBUFS) return stop_reads();  // lwIP has no room: on_guest_room resumes
  if (nread < 0) {
    stop_reads();
    if (nread != UV_EOF) {
      log::debug("net: upstream read: " + uv::error_text(static_cast<int>(nread)));
      return guest_->reset_connection();
    }
    reading_ = Reading::kEnded;
    return guest_->end();
  }
  guest_->send(std::string_view(buf->base, static_cast<size_t>(nread)));
}

void UpstreamRelay::on_guest_congested() {
  stop_reads();
}

void UpstreamRelay::on_guest_room() {
  start_reads();
}

void UpstreamRelay::reset() {
  if (phase_ != UpstreamPhase::kClosed) socket_->reset();
  phase_ = *next(phase_, UpstreamEvent::kClose);
  reading_ = Reading::kEnded;
  pending_.clear();
  size_t credit = pending_credit_;
  pending_credit_ = 0;
  if (guest_ && credit > 0) guest_->credit(credit);  // the guest's bytes were dropped
}

void UpstreamRelay::close() {
  if (phase_ != UpstreamPhase::kClosed) socket_->close();
  phase_ = *next(phase_, UpstreamEvent::kClose);
  reading_ = Reading::kEnded;
}

}  // namespace matchlock::net
