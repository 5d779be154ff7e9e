#include "net/intercept/intercept_endpoint.h"

namespace matchlock::net {
namespace {

constexpr uint64_t kSniffTimeoutMs = 1000;

}  // namespace

InterceptEndpoint::InterceptEndpoint(uv_loop_t* loop, PolicyHook& policy, const Endpoint& dst,
                                     InterceptRoute route)
    : dst_(dst), route_(std::move(route)), gate_(policy, dst.ip, dst.port), sniff_timer_(loop) {}

void InterceptEndpoint::start(GuestSide& guest) {
  guest_ = &guest;
  // Server-speaks-first protocols send nothing: after a short wait they count as raw TCP.
  sniff_timer_.start(kSniffTimeoutMs, [this] { on_sniff_timeout(); });
}

void InterceptEndpoint::on_sniff_timeout() {
  if (!gate_.deciding() || !guest_->connected()) return;
  if (!execute(gate_.sniff_timeout(), 0)) guest_->reset_connection();
}

void InterceptEndpoint::on_bytes(GuestBytes bytes) {
  size_t credit = bytes.credit();
  std::string data = bytes.take_string();
  if (!execute(gate_.feed(data), credit)) guest_->reset_connection();
}

void InterceptEndpoint::open_next_hop() {
  next_hop_ = route_(dst_);
  hop_state_ = NextHop::kInUse;
  next_hop_->start(*this);
}

bool InterceptEndpoint::execute(StreamAction a, size_t credit) {
  if (a.reset) return false;
  if (!gate_.deciding()) sniff_timer_.stop();
  if (a.dial && hop_state_ == NextHop::kNone) open_next_hop();
  bool in_use = hop_state_ == NextHop::kInUse && (forwarded_any_ || !a.forward.empty());
  if (!a.forward.empty() && hop_state_ == NextHop::kInUse) {
    forwarded_any_ = true;
    next_hop_->on_bytes(GuestBytes(std::move(a.forward), credit));
    credit = 0;
  }
  guest_->credit(credit);  // bytes kept by the gate (bounded) or dropped
  if (a.close_with && in_use) {
    // Earlier requests on this connection were allowed: their responses come first, then
    // ours. Nothing more goes to the next hop; its end releases the reply (end() below).
    deferred_reply_ = std::move(*a.close_with);
    next_hop_->on_guest_fin();
    return true;
  }
  if (a.close_with) {
    // Answer the guest ourselves (403/400) and close: nothing more goes anywhere.
    if (hop_state_ == NextHop::kInUse) {
      next_hop_->reset();
      hop_state_ = NextHop::kDropped;
    }
    guest_->stream_delivered();
    guest_->send(*a.close_with);
    guest_->end();
  }
  return true;
}

void InterceptEndpoint::on_guest_fin() {
  if (hop_state_ == NextHop::kInUse) return next_hop_->on_guest_fin();
  guest_->stream_delivered();
  // Never dialled and still deciding: nothing to tell anyone; close our side too.
  if (!gate_.finished()) guest_->end();
}

void InterceptEndpoint::end() {
  if (deferred_reply_) {
    guest_->send(*deferred_reply_);
    deferred_reply_.reset();
  }
  guest_->end();
}

void InterceptEndpoint::on_guest_congested() {
  if (hop_state_ == NextHop::kInUse) next_hop_->on_guest_congested();
}

void InterceptEndpoint::on_guest_room() {
  if (hop_state_ == NextHop::kInUse) next_hop_->on_guest_room();
}

void InterceptEndpoint::reset() {
  sniff_timer_.stop();
  if (next_hop_) next_hop_->reset();
}

void InterceptEndpoint::close() {
  sniff_timer_.stop();
  if (next_hop_) next_hop_->close();
}

}  // namespace matchlock::net
