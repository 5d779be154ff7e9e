#include "net/intercept/intercept_endpoint.h"

#include "net/sniff/classify.h"

namespace matchlock::net {
namespace {

constexpr uint64_t kSniffTimeoutMs = 1000;

}  // namespace

InterceptEndpoint::InterceptEndpoint(uv_loop_t* loop, PolicyHook& policy, const Endpoint& dst,
                                     InterceptRoute route, ProxyRoute proxy_route)
    : dst_(dst),
      route_(std::move(route)),
      proxy_route_(std::move(proxy_route)),
      classifying_(static_cast<bool>(proxy_route_)),
      gate_(policy, dst.ip, dst.port),
      sniff_timer_(loop) {}

void InterceptEndpoint::start(GuestSide& guest) {
  guest_ = &guest;
  // Server-speaks-first protocols send nothing: after a short wait they count as raw TCP.
  sniff_timer_.start(kSniffTimeoutMs, [this] { on_sniff_timeout(); });
}

void InterceptEndpoint::on_sniff_timeout() {
  if (proxy_ || !gate_.deciding() || !guest_->connected()) return;
  if (classifying_) {
    // Not TLS or HTTP within the window: the gate decides, from what came so far.
    classifying_ = false;
    std::string held = std::move(sniffed_);
    sniffed_.clear();
    if (!held.empty() && !execute(gate_.feed(held), std::exchange(sniffed_credit_, 0))) {
      return guest_->reset_connection();
    }
    if (!gate_.deciding()) return;
  }
  if (!execute(gate_.sniff_timeout(), 0)) guest_->reset_connection();
}

void InterceptEndpoint::on_bytes(GuestBytes bytes) {
  if (proxy_) return proxy_->on_bytes(std::move(bytes));
  size_t credit = bytes.credit();
  std::string data = bytes.take_string();
  if (classifying_ && classify_for_proxy(data, credit)) return;
  if (!execute(gate_.feed(data), credit)) guest_->reset_connection();
}

bool InterceptEndpoint::classify_for_proxy(std::string& data, size_t& credit) {
  sniffed_ += data;
  sniffed_credit_ += credit;
  auto c = sniff::classify(sniffed_);
  if (c.kind == sniff::TrafficKind::kNeedMore && sniffed_.size() < sniff::kMaxSniffBytes) {
    return true;  // bounded by kMaxSniffBytes; the window stays shut meanwhile
  }
  classifying_ = false;
  if (c.kind == sniff::TrafficKind::kTls || c.kind == sniff::TrafficKind::kHttp) {
    hand_to_proxy(c.kind == sniff::TrafficKind::kTls);
    return true;
  }
  // Raw TCP, malformed HTTP: the gate decides as it always did.
  data = std::move(sniffed_);
  sniffed_.clear();
  credit = std::exchange(sniffed_credit_, 0);
  return false;
}

void InterceptEndpoint::hand_to_proxy(bool tls) {
  sniff_timer_.stop();
  proxy_ = proxy_route_(tls, dst_);
  proxy_->start(*guest_);
  std::string first = std::move(sniffed_);
  sniffed_.clear();
  proxy_->on_bytes(GuestBytes(std::move(first), std::exchange(sniffed_credit_, 0)));
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
  if (proxy_) return proxy_->on_guest_fin();
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
  if (proxy_) return proxy_->on_guest_congested();
  if (hop_state_ == NextHop::kInUse) next_hop_->on_guest_congested();
}

void InterceptEndpoint::on_guest_room() {
  if (proxy_) return proxy_->on_guest_room();
  if (hop_state_ == NextHop::kInUse) next_hop_->on_guest_room();
}

void InterceptEndpoint::reset() {
  sniff_timer_.stop();
  if (proxy_) return proxy_->reset();
  if (next_hop_) next_hop_->reset();
}

void InterceptEndpoint::close() {
  sniff_timer_.stop();
  if (proxy_) return proxy_->close();
  if (next_hop_) next_hop_->close();
}

}  // namespace matchlock::net
