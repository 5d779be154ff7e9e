#include "net/proxy/h2_session.h"

#include "core/log.h"
#include "core/uv.h"

namespace matchlock::net::proxy {
namespace {

policy::IpAddress ip_of(uint32_t ip) {
  return policy::IpAddress::v4(ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

}  // namespace

H2Session::H2Session(uv_loop_t* loop, MitmServices& services, ConnectionFacts facts,
                     GuestChannel& guest, EarlyUpstream& early)
    : loop_(loop), guest_(guest), upstream_(early.take_connection()) {
  // Reads are never paused for the guest: the bridge bounds what it holds by the windows.
  if (upstream_) upstream_->set_handler(*this, [] { return size_t{64 * 1024}; });
  h2::BridgeContext context;
  context.sni = facts.sni;
  uint32_t ip = facts.destination.ip;
  context.dns_name_for = [&services, ip](const std::string& host) {
    return services.dns_name_for(ip, host);
  };
  context.destination = ip_of(ip);
  context.port = facts.destination.port;
  context.tls = facts.tls;
  context.next_exchange_id = [&services] { return services.next_exchange_id(); };
  bridge_ = std::make_unique<h2::H2ExchangeBridge>(services.exchange_policy(), std::move(context),
                                                   guest_leg_, upstream_leg_);
  std::string received = early.take_received();
  if (!received.empty()) bridge_->on_upstream_bytes(received);
  if (!upstream_ || early.ended()) {
    bridge_->on_upstream_closed();
    return;
  }
  upstream_->resume_reads();
}

H2Session::~H2Session() {
  guest_gone_ = true;
  bridge_.reset();  // finishes the exchanges still open
  if (upstream_) upstream_->detach();
}

void H2Session::on_guest_data(std::string_view plaintext) {
  bridge_->on_guest_bytes(plaintext);
}

void H2Session::on_guest_eof() {
  // HTTP/2 has no half-close: a guest that stops sending is done with the connection.
  bridge_->on_guest_closed();
  if (!guest_gone_) {
    guest_gone_ = true;
    guest_.end();
  }
}

void H2Session::on_guest_room() {
  bridge_->on_guest_writable();
}

void H2Session::on_guest_gone() {
  guest_gone_ = true;
  bridge_->on_guest_closed();
}

void H2Session::on_upstream_data(std::string_view plaintext) {
  bridge_->on_upstream_bytes(plaintext);
}

void H2Session::on_upstream_eof() {
  bridge_->on_upstream_closed();
}

void H2Session::on_upstream_error(const std::string& why) {
  log::debug("proxy: h2 upstream " + why);
  bridge_->on_upstream_closed();
}

void H2Session::on_upstream_drained() {
  bridge_->on_upstream_writable();
}

// Called from inside the connection's callbacks too: it is freed on a later loop turn.
void H2Session::retire_upstream() {
  if (!upstream_) return;
  upstream_->detach();
  std::shared_ptr<UpstreamConnection> old(std::move(upstream_));
  upstream_.reset();
  uv::defer(loop_, [old] {});
}

void H2Session::GuestLeg::send(std::string bytes) {
  if (!session_.guest_gone_) session_.guest_.send(bytes);
}

bool H2Session::GuestLeg::can_send() const {
  return !session_.guest_gone_ && session_.guest_.room() > 0;
}

void H2Session::GuestLeg::close() {
  if (session_.guest_gone_) return;
  session_.guest_gone_ = true;
  session_.guest_.end();
}

void H2Session::UpstreamLeg::send(std::string bytes) {
  if (session_.upstream_) session_.upstream_->write(bytes);
}

bool H2Session::UpstreamLeg::can_send() const {
  return session_.upstream_ && session_.upstream_->in_flight() < kUpstreamHighWater;
}

void H2Session::UpstreamLeg::close() {
  session_.retire_upstream();
}

}  // namespace matchlock::net::proxy
