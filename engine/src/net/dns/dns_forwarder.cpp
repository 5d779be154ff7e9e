#include "net/dns/dns_forwarder.h"

#include <cstring>

#include "lwip/ip.h"
#include "lwip/pbuf.h"
#include "lwip/udp.h"

namespace matchlock::net {

Result<std::unique_ptr<DnsForwarder>> DnsForwarder::create(LwipStack& stack,
                                                           UpstreamResolver& resolver,
                                                           DnsHooks hooks) {
  std::unique_ptr<DnsForwarder> f(new DnsForwarder(stack, resolver, std::move(hooks)));
  f->pcb_ = udp_new();
  if (!f->pcb_) return Error(ErrorCode::kInternal, "lwIP udp_new failed");
  ip_set_option(f->pcb_, SOF_REUSEADDR);
  if (udp_bind(f->pcb_, IP_ANY_TYPE, 53) != ERR_OK)
    return Error(ErrorCode::kInternal, "lwIP: cannot bind the DNS port");
  udp_recv(
      f->pcb_,
      [](void* arg, struct udp_pcb*, struct pbuf* p, const ip_addr_t* addr, u16_t port) {
        auto* self = static_cast<DnsForwarder*>(arg);
        // Only valid inside this callback: the address the guest sent the query to.
        uint32_t asked = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(ip_current_dest_addr())));
        uint32_t guest = lwip_ntohl(ip4_addr_get_u32(ip_2_ip4(addr)));
        if (!self) {
          pbuf_free(p);
          return;
        }
        self->on_query(p, guest, port, asked);
      },
      f.get());
  return f;
}

DnsForwarder::~DnsForwarder() {
  *alive_ = nullptr;
  if (pcb_) udp_remove(pcb_);
}

void DnsForwarder::answer(std::string query, std::function<void(std::optional<std::string>)> done) {
  if (hooks_.on_query) {
    DnsVerdict v = hooks_.on_query(query);
    if (v.action == DnsVerdict::Action::kDrop) return done(std::nullopt);
    if (v.action == DnsVerdict::Action::kAnswer) return done(std::move(v.message));
    query = std::move(v.message);
  }
  std::weak_ptr<DnsForwarder*> alive = alive_;
  resolver_.resolve(query, [alive, query, done](std::optional<std::string> reply) {
    auto a = alive.lock();
    if (!a || !*a) return;
    DnsForwarder* self = *a;
    if (reply && self->hooks_.on_reply) reply = self->hooks_.on_reply(query, std::move(*reply));
    done(std::move(reply));
  });
}

void DnsForwarder::on_query(struct pbuf* p, uint32_t guest, uint16_t gport, uint32_t asked) {
  if (p->tot_len < 12 || p->tot_len > kMaxQuery) {
    pbuf_free(p);
    return;
  }
  std::string query(p->tot_len, '\0');
  pbuf_copy_partial(p, query.data(), p->tot_len, 0);
  pbuf_free(p);
  std::weak_ptr<DnsForwarder*> alive = alive_;
  answer(std::move(query), [alive, guest, gport, asked](std::optional<std::string> reply) {
    auto a = alive.lock();
    if (!a || !*a || !reply || reply->size() > 0xffff) return;
    DnsForwarder* self = *a;
    struct pbuf* out = pbuf_alloc(PBUF_TRANSPORT, static_cast<u16_t>(reply->size()), PBUF_RAM);
    if (!out) return;
    pbuf_take(out, reply->data(), static_cast<u16_t>(reply->size()));
    ip_addr_t to, from;
    ip_addr_set_ip4_u32_val(to, lwip_htonl(guest));
    ip_addr_set_ip4_u32_val(from, lwip_htonl(asked));
    udp_sendto_if_src(self->pcb_, out, &to, gport, self->stack_.netif(), &from);
    pbuf_free(out);
  });
}

}  // namespace matchlock::net
