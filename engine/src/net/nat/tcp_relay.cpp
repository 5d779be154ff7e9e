#include "net/nat/tcp_relay.h"

#include "core/log.h"
#include "lwip/ip_addr.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "net/dns/dns_tcp_endpoint.h"
#include "net/intercept/intercept_endpoint.h"
#include "net/nat/upstream_relay.h"
#include "net/policy_hook.h"
#include "net/proxy/proxy_endpoint.h"
#include "net/stack/addresses.h"
#include "net/tcp/connection_request.h"
#include "net/tcp/tcp_conn.h"

namespace matchlock::net {
namespace {

constexpr uint64_t kSweepMs = 5000;
constexpr uint64_t kHandshakeLimitMs = 30000;  // guest never completed (or upstream never answered)

ip_addr_t lwip_addr(uint32_t host_order) {
  ip_addr_t a;
  ip_addr_set_ip4_u32_val(a, lwip_htonl(host_order));
  return a;
}

}  // namespace

TcpRelay::TcpRelay(uv_loop_t* loop, LwipStack& stack, Planner planner, PolicyHook* policy,
                   DnsForwarder* dns)
    : loop_(loop),
      stack_(stack),
      planner_(std::move(planner)),
      policy_(policy),
      dns_(dns),
      dialer_(loop),
      sweep_timer_(loop) {
  sweep_timer_.start(
      kSweepMs, [this] { sweep(); }, kSweepMs);
}

TcpRelay::~TcpRelay() {
  auto conns = std::move(conns_);
  for (auto& [k, c] : conns) c->abort();
  conns.clear();
  for (auto& [port, pcb] : listeners_) {
    tcp_arg(pcb, nullptr);
    tcp_close(pcb);
  }
}

bool TcpRelay::on_syn(const PacketInfo& info, const uint8_t* frame, size_t len) {
  uint64_t k = key(info.sport, info.dst, info.dport);
  if (auto it = conns_.find(k); it != conns_.end()) {
    // A repeated SYN while upstream is still connecting is dropped (the guest retries);
    // otherwise lwIP answers it from the pcb it already has.
    return it->second->phase() == ConnPhase::kSynHeld;
  }
  // Every connection may hold a host socket: a cap keeps a hostile guest from exhausting them.
  constexpr size_t kMaxConnections = 8192;
  if (conns_.size() >= kMaxConnections) {
    send_rst(info);
    return true;
  }
  TcpPlan plan = planner_(info.dst, info.dport);
  bool local = plan.kind == TcpPlan::Kind::kIntercept || plan.kind == TcpPlan::Kind::kLocalDns;
  if (plan.kind == TcpPlan::Kind::kRefuse || (plan.kind == TcpPlan::Kind::kIntercept && !policy_) ||
      (plan.kind == TcpPlan::Kind::kLocalDns && !dns_) || (local && !ensure_listener(info.dport))) {
    log::debug("net: refused guest TCP to " + ipv4_text(info.dst) + ":" +
               std::to_string(info.dport));
    send_rst(info);
    return true;
  }
  auto conn = std::make_shared<TcpConn>(*this, k, info, uv_now(loop_));
  conns_[k] = conn;
  ConnectionRequest request(conn);
  switch (plan.kind) {
    case TcpPlan::Kind::kRelay:
      // lwIP sees the SYN only when the dial succeeded (the request is accepted then).
      conn->hold_syn(frame, len);
      dialer_.dial(k, plan.to, std::move(request));
      return true;
    case TcpPlan::Kind::kLocalDns:
      request.accept(std::make_unique<DnsTcpEndpoint>(*dns_));
      return false;  // lwIP answers the SYN from the listener
    default: {
      // Interception: the policy needs the first bytes, so the handshake completes now.
      ProxyRoute proxy;
      if (proxy::MitmServices* mitm = policy_->mitm()) {
        // TLS and plain HTTP go to the HTTP proxy (policy per request, inside TLS too).
        proxy = [loop = loop_, mitm](bool tls, const Endpoint& dst) {
          using Mode = proxy::ProxyEndpoint::Mode;
          return std::make_unique<proxy::ProxyEndpoint>(loop, *mitm, dst,
                                                        tls ? Mode::kTls : Mode::kPlainHttp);
        };
      }
      request.accept(std::make_unique<InterceptEndpoint>(
          loop_, *policy_, Endpoint{info.dst, info.dport},
          [loop = loop_](const Endpoint& dst) {
            return std::make_unique<UpstreamRelay>(UpstreamSocket::dial(loop, dst),
                                                   /*connected=*/false);
          },
          std::move(proxy)));
      return false;
    }
  }
}

void TcpRelay::send_rst(const PacketInfo& info) {
  ip_addr_t local = lwip_addr(info.dst), remote = lwip_addr(info.src);
  tcp_rst(nullptr, 0, info.tcp_seq + 1, &local, &remote, info.dport, info.sport);
}

bool TcpRelay::ensure_listener(uint16_t port) {
  if (listeners_.count(port)) return true;
  struct tcp_pcb* pcb = tcp_new();
  if (!pcb) return false;
  ip_set_option(pcb, SOF_REUSEADDR);
  if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
    tcp_abort(pcb);
    return false;
  }
  struct tcp_pcb* lpcb = tcp_listen(pcb);
  if (!lpcb) {
    tcp_abort(pcb);
    return false;
  }
  tcp_arg(lpcb, this);
  tcp_accept(lpcb, [](void* arg, struct tcp_pcb* newpcb, err_t err) -> err_t {
    return TcpRelay::on_accept(arg, newpcb, err);
  });
  listeners_[port] = lpcb;
  return true;
}

int8_t TcpRelay::on_accept(void* arg, struct tcp_pcb* newpcb, int8_t err) {
  auto* self = static_cast<TcpRelay*>(arg);
  if (!self || err != ERR_OK || !newpcb) return ERR_VAL;
  // lwIP copied the packet's destination (ours, thanks to the address swap) into local_ip.
  uint32_t dst = lwip_ntohl(ip_2_ip4(&newpcb->local_ip)->addr);
  uint64_t k = key(newpcb->remote_port, dst, newpcb->local_port);
  auto it = self->conns_.find(k);
  if (it == self->conns_.end() || it->second->phase() != ConnPhase::kSynDelivered) {
    tcp_abort(newpcb);  // no held SYN behind it: not a connection we agreed to
    return ERR_ABRT;
  }
  self->stack_.widen_segments(newpcb);  // before any data is queued: segments are cut at write
  it->second->attach(newpcb);
  return ERR_OK;
}

void TcpRelay::remove(uint64_t k) {
  dialer_.cancel(k);
  auto it = conns_.find(k);
  if (it == conns_.end()) return;
  auto keep = std::move(it->second);  // destroyed when the caller's reference goes
  conns_.erase(it);
  uv::defer(loop_, [keep] {});
}

void TcpRelay::sweep() {
  uint64_t now = uv_now(loop_);
  std::vector<std::shared_ptr<TcpConn>> stale;
  for (auto& [k, c] : conns_) {
    if (c->phase() != ConnPhase::kEstablished && now - c->created_ms() > kHandshakeLimitMs)
      stale.push_back(c);
  }
  for (auto& c : stale) c->abort();
}

}  // namespace matchlock::net
