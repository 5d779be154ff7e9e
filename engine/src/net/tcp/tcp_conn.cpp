#include "net/tcp/tcp_conn.h"

#include <cassert>

#include "lwip/tcp.h"
#include "net/nat/tcp_relay.h"

namespace matchlock::net {

TcpConn::TcpConn(TcpRelay& relay, uint64_t key, const PacketInfo& syn, uint64_t now_ms)
    : relay_(relay), key_(key), syn_(syn), created_ms_(now_ms) {}

TcpConn::~TcpConn() = default;  // the pcb (declared last) is aborted before the endpoint goes

void TcpConn::move_to(ConnEvent event) {
  auto to = next(phase_, event);
  assert(to && "connection phase transition not in the table");
  if (to) phase_ = *to;
}

void TcpConn::hold_syn(const uint8_t* frame, size_t len) {
  held_syn_.assign(reinterpret_cast<const char*>(frame), len);
}

bool TcpConn::accept(std::unique_ptr<GuestStreamEndpoint>& endpoint) {
  if (!next(phase_, ConnEvent::kAccept)) return false;  // reset or swept meanwhile
  if (!held_syn_.empty() && !relay_.ensure_listener(syn_.dport)) {
    refuse();
    return false;
  }
  move_to(ConnEvent::kAccept);
  endpoint_ = std::move(endpoint);
  if (held_syn_.empty()) return true;  // lwIP already has the SYN
  std::string syn = std::move(held_syn_);
  held_syn_.clear();
  relay_.stack_.input(reinterpret_cast<const uint8_t*>(syn.data()), syn.size(), syn_.dst);
  return true;
}

void TcpConn::refuse() {
  if (phase_ == ConnPhase::kDone) return;
  if (held_syn_.empty()) return abort();  // lwIP answered the SYN already: reset the pcb
  relay_.send_rst(syn_);
  finish();
}

void TcpConn::attach(struct tcp_pcb* pcb) {
  move_to(ConnEvent::kAttach);
  pcb_.attach(pcb, *this);
  endpoint_->start(*this);
}

int8_t TcpConn::on_guest_data(struct pbuf* p) {
  auto self = shared_from_this();
  if (!p) {
    on_guest_fin();
    return ERR_OK;
  }
  endpoint_->on_bytes(GuestBytes::from_pbuf(p));
  // Reset from inside lwIP's recv callback: lwIP must hear it was aborted.
  return pcb_.aborted() ? ERR_ABRT : ERR_OK;
}

void TcpConn::on_guest_fin() {
  guest_half_ = next(guest_half_, GuestHalfEvent::kGuestFin);
  if (host_half_ == HostHalf::kFinSent) pcb_.release_to_lwip();
  endpoint_->on_guest_fin();
}

void TcpConn::on_guest_acked() {
  auto self = shared_from_this();
  flush_to_guest();
  if (pcb_.attached() && to_guest_.empty() && pcb_.send_room() >= TCP_SND_BUF / 4)
    endpoint_->on_guest_room();
}

void TcpConn::on_guest_error(int8_t err) {
  auto self = shared_from_this();
  if (err == ERR_CLSD) {
    // Closed gracefully by lwIP after our FIN was acknowledged.
    guest_half_ = next(guest_half_, GuestHalfEvent::kGuestFin);
    return maybe_finish();
  }
  if (endpoint_) endpoint_->reset();
  finish();
}

void TcpConn::send(std::string_view bytes) {
  // Nothing queued before: lwIP copies straight from the caller's buffer (the common case of
  // a download), and only what it could not take is queued.
  if (to_guest_.empty() && pcb_.attached())
    bytes.remove_prefix(pcb_.write(bytes.data(), bytes.size()));
  to_guest_.append(bytes);
  flush_to_guest();
}

void TcpConn::end() {
  host_half_ = *next(host_half_, HostHalfEvent::kEnd);
  flush_to_guest();
  maybe_finish();
}

void TcpConn::credit(size_t bytes) {
  pcb_.credit(bytes);
}

void TcpConn::stream_delivered() {
  guest_half_ = next(guest_half_, GuestHalfEvent::kDelivered);
  maybe_finish();
}

void TcpConn::flush_to_guest() {
  if (!pcb_.attached()) return;
  to_guest_.erase(0, pcb_.write(to_guest_.data(), to_guest_.size()));
  if (host_half_ == HostHalf::kEnding && to_guest_.empty()) {
    host_half_ = *next(host_half_, HostHalfEvent::kFinSent);
    pcb_.shutdown_send();
  }
  pcb_.output();
  // The endpoint pauses its source while lwIP is nearly full; on_guest_acked resumes it.
  if (!to_guest_.empty() || pcb_.send_room() < 4u * pcb_.mss()) endpoint_->on_guest_congested();
}

void TcpConn::maybe_finish() {
  if (phase_ == ConnPhase::kDone) return;
  if (guest_half_ != GuestHalf::kClosed || host_half_ == HostHalf::kOpen || !to_guest_.empty())
    return;
  pcb_.close();
  if (endpoint_) endpoint_->close();
  finish();
}

void TcpConn::abort() {
  auto self = shared_from_this();
  pcb_.abort();
  if (endpoint_) endpoint_->reset();
  finish();
}

void TcpConn::finish() {
  if (phase_ == ConnPhase::kDone) return;
  move_to(ConnEvent::kFinish);
  relay_.remove(key_);
}

}  // namespace matchlock::net
