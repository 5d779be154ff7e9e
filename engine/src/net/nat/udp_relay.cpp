#include "net/nat/udp_relay.h"

#include <arpa/inet.h>

#include <string>
#include <vector>

#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

namespace matchlock::net {
namespace {
constexpr uint64_t kIdleMs = 60000;
constexpr uint64_t kSweepMs = 10000;
constexpr size_t kMaxFlows = 1024;
}  // namespace

struct UdpRelay::Flow {
  UdpRelay* owner = nullptr;
  struct udp_pcb* pcb = nullptr;  // the port listener replies are sent from
  uint32_t guest = 0, dst = 0;
  uint16_t gport = 0, dport = 0;
  uint64_t last_ms = 0;
  uv::Handle<uv_udp_t> sock;
  std::string buf = std::string(65536, '\0');
};

UdpRelay::UdpRelay(uv_loop_t* loop, LwipStack& stack)
    : loop_(loop), stack_(stack), sweep_timer_(loop) {
  sweep_timer_.start(
      kSweepMs, [this] { sweep(); }, kSweepMs);
}

UdpRelay::~UdpRelay() {
  flows_.clear();
  for (auto& [port, pcb] : ports_) udp_remove(pcb);
}

void UdpRelay::prepare(const PacketInfo& info) {
  if (ports_.count(info.dport)) return;
  struct udp_pcb* pcb = udp_new();
  if (!pcb) return;
  ip_set_option(pcb, SOF_REUSEADDR);
  if (udp_bind(pcb, IP_ANY_TYPE, info.dport) != ERR_OK) {
    udp_remove(pcb);
    return;
  }
  udp_recv(
      pcb,
      [](void* arg, struct udp_pcb* pcb, struct pbuf* p, const ip_addr_t* addr, u16_t port) {
        uint32_t dst = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(ip_current_dest_addr())));
        uint32_t guest = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(addr)));
        static_cast<UdpRelay*>(arg)->on_datagram(pcb, p, guest, port, dst, pcb->local_port);
      },
      this);
  ports_[info.dport] = pcb;
}

void UdpRelay::on_datagram(struct udp_pcb* pcb, struct pbuf* p, uint32_t guest, uint16_t gport,
                           uint32_t dst, uint16_t dport) {
  uint64_t k = (uint64_t{dst} << 32) | (uint64_t{dport} << 16) | gport;
  auto it = flows_.find(k);
  if (it == flows_.end()) {
    if (flows_.size() >= kMaxFlows) {
      pbuf_free(p);
      return;
    }
    auto f = std::make_unique<Flow>();
    f->owner = this;
    f->pcb = pcb;
    f->guest = guest;
    f->gport = gport;
    f->dst = dst;
    f->dport = dport;
    f->sock.init(loop_, f.get(), uv_udp_init);
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(dport);
    sa.sin_addr.s_addr = htonl(dst);
    if (uv_udp_connect(f->sock.get(), reinterpret_cast<const sockaddr*>(&sa)) != 0) {
      pbuf_free(p);
      return;
    }
    uv_udp_recv_start(
        f->sock.get(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* fl = static_cast<Flow*>(h->data);
          *buf = fl ? uv_buf_init(fl->buf.data(), fl->buf.size()) : uv_buf_init(nullptr, 0);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr*, unsigned) {
          auto* fl = static_cast<Flow*>(h->data);
          if (!fl || nread <= 0 || nread > 0xffff) return;
          fl->last_ms = uv_now(fl->owner->loop_);
          struct pbuf* out = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(nread), PBUF_RAM);
          if (!out) return;
          pbuf_take(out, buf->base, static_cast<u16_t>(nread));
          ip_addr_t to, from;
          ip_addr_set_ip4_u32_val(to, lwip_htonl(fl->guest));
          ip_addr_set_ip4_u32_val(from, lwip_htonl(fl->dst));
          udp_sendto_if_src(fl->pcb, out, &to, fl->gport, fl->owner->stack_.netif(), &from);
          pbuf_free(out);
        });
    it = flows_.emplace(k, std::move(f)).first;
  }
  Flow& f = *it->second;
  f.last_ms = uv_now(loop_);
  std::string data(p->tot_len, '\0');
  pbuf_copy_partial(p, data.data(), p->tot_len, 0);
  pbuf_free(p);
  uv_buf_t b = uv_buf_init(data.data(), data.size());
  uv_udp_try_send(f.sock.get(), &b, 1, nullptr);  // UDP: a full socket buffer drops, as a NIC would
}

void UdpRelay::sweep() {
  uint64_t now = uv_now(loop_);
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (now - it->second->last_ms > kIdleMs) {
      it = flows_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace matchlock::net
