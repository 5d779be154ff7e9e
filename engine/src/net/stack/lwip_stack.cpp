#include "net/stack/lwip_stack.h"

#include <chrono>
#include <cstring>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/ip4_frag.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"  // the pcb lists and tcp_abandon, to empty them at the end
#include "lwip/timeouts.h"
#include "net/stack/addresses.h"
#include "netif/ethernet.h"

extern "C" u32_t sys_now(void) {
  using namespace std::chrono;
  return static_cast<u32_t>(
      duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count());
}

namespace matchlock::net {

struct LwipGlue {
  static err_t linkoutput(struct netif* nif, struct pbuf* p) {
    auto* self = static_cast<LwipStack*>(nif->state);
    if (!self || p->tot_len > self->out_cap_) return ERR_IF;
    pbuf_copy_partial(p, self->out_buf_.get(), p->tot_len, 0);
    if (self->output_) self->output_(self->out_buf_.get(), p->tot_len);
    return ERR_OK;
  }
  static err_t init(struct netif* nif) {
    nif->name[0] = 'm';
    nif->name[1] = 'l';
    nif->output = etharp_output;
    nif->linkoutput = linkoutput;
    nif->hwaddr_len = ETH_HWADDR_LEN;
    std::memcpy(nif->hwaddr, kGatewayMac, ETH_HWADDR_LEN);
    nif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
    return ERR_OK;
  }
};

namespace {
bool g_lwip_initialized = false;
bool g_stack_active = false;

// lwIP's state is global and would outlive the stack: connections the relay let go (closing, or
// in TIME_WAIT) and incomplete IP reassemblies are otherwise held until their timers run, under
// the next stack if there is one. (A reassembly also links its fragments through pointers inside
// packet data, which LeakSanitizer cannot follow, so it reported them as leaks.) Whatever owned a
// pcb is gone by now (NetworkStack destroys it first), so no callback is told.
void release_lwip_state() {
  for (struct tcp_pcb** list : {&tcp_active_pcbs, &tcp_tw_pcbs}) {
    while (struct tcp_pcb* pcb = *list) {
      tcp_arg(pcb, nullptr);
      tcp_err(pcb, nullptr);
      tcp_abandon(pcb, 0);      // no RST: the link is going away with the stack
      if (*list == pcb) break;  // lwIP kept it: never loop forever
    }
  }
  // lwIP frees reassemblies only when they time out; each tick ages every one by one, so
  // IP_REASS_MAXAGE + 1 ticks time out even one begun just now.
  for (int tick = 0; tick <= IP_REASS_MAXAGE; ++tick) ip_reass_tmr();
}
}  // namespace

Result<std::unique_ptr<LwipStack>> LwipStack::create(uv_loop_t* loop, int mtu, OutputFn output,
                                                     std::function<bool()> large_segments) {
  if (g_stack_active) return Error(ErrorCode::kUnsupported, "one network stack per process");
  if (mtu < 576 || mtu > kMaxMtu) return invalid_argument("mtu out of range");
  if (!g_lwip_initialized) {
    lwip_init();
    g_lwip_initialized = true;
  }
  std::unique_ptr<LwipStack> s(new LwipStack());
  s->output_ = std::move(output);
  s->large_segments_ = std::move(large_segments);
  s->mtu_ = mtu;
  // A frame lwIP builds is at most a 64 KiB IPv4 packet and its Ethernet header.
  s->out_cap_ = 0xffff + 14;
  s->out_buf_ = std::make_unique_for_overwrite<uint8_t[]>(s->out_cap_);
  s->netif_ = std::make_unique<struct netif>();
  ip4_addr_t addr, mask, gw;
  ip4_addr_set_u32(&addr, lwip_htonl(kGatewayIp));
  // Netmask 0: every destination is on-link, so replies sent while the address is swapped go
  // straight to the guest's MAC (a static ARP entry) instead of failing with "no route".
  ip4_addr_set_zero(&mask);
  ip4_addr_set_zero(&gw);
  if (!netif_add(s->netif_.get(), &addr, &mask, &gw, s.get(), LwipGlue::init, ethernet_input))
    return Error(ErrorCode::kInternal, "lwIP netif_add failed");
  g_stack_active = true;
  // 0: lwIP neither fragments nor caps its MSS by the netif (see the header).
  s->netif_->mtu = 0;
  netif_set_default(s->netif_.get());
  netif_set_up(s->netif_.get());
  netif_set_link_up(s->netif_.get());
  ip4_addr_t guest;
  ip4_addr_set_u32(&guest, lwip_htonl(kGuestIp));
  struct eth_addr guest_mac;
  std::memcpy(guest_mac.addr, kGuestMac, 6);
  etharp_add_static_entry(&guest, &guest_mac);

  s->timer_.emplace(loop);
  // Anything that adds an lwIP timeout runs in a loop callback, so checking the next due time
  // once per loop iteration, before the loop waits, never misses one.
  s->rearm_.init(loop, s.get(), uv_prepare_init);
  uv_prepare_start(s->rearm_.get(), [](uv_prepare_t* h) {
    if (auto* self = static_cast<LwipStack*>(h->data)) self->arm_timer();
  });
  s->arm_timer();
  return s;
}

void LwipStack::arm_timer() {
  const u32_t sleep = sys_timeouts_sleeptime();
  if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE) {
    timer_->stop();
    armed_due_ms_.reset();
    return;
  }
  const uint32_t due = sys_now() + sleep;  // wraps like sys_now(); only equality matters
  if (armed_due_ms_ == due) return;
  armed_due_ms_ = due;
  timer_->start(sleep, [this] {
    armed_due_ms_.reset();
    sys_check_timeouts();
  });
}

LwipStack::~LwipStack() {
  rearm_.close();
  timer_.reset();
  if (netif_) {
    netif_->state = nullptr;  // anything lwIP sends from here on is dropped
    release_lwip_state();
    ip4_addr_t guest;
    ip4_addr_set_u32(&guest, lwip_htonl(kGuestIp));
    etharp_remove_static_entry(&guest);
    netif_remove(netif_.get());
    g_stack_active = false;
  }
}

struct netif* LwipStack::netif() {
  return netif_.get();
}

void LwipStack::widen_segments(struct tcp_pcb* pcb) const {
  if (!pcb || !large_segments_ || !large_segments_()) return;
  const int guest_mss = mtu_ - 40;                      // IPv4 and TCP headers without options
  if (guest_mss <= 0 || pcb->mss != guest_mss) return;  // the guest asked for less: keep it
  const u16_t wide = static_cast<u16_t>(TCP_MSS / guest_mss * guest_mss);
  if (wide <= pcb->mss) return;
  pcb->mss = wide;
  if (pcb->cwnd < wide) pcb->cwnd = wide;
}

void LwipStack::input(const uint8_t* frame, size_t len, uint32_t deliver_as) {
  if (len > 0xffff) return;
  struct pbuf* p = pbuf_alloc(PBUF_RAW, static_cast<u16_t>(len), PBUF_RAM);
  if (!p) return;
  std::memcpy(p->payload, frame, len);
  // A plain field store, not netif_set_ipaddr(): that would abort pcbs bound to the old one.
  ip4_addr_t saved = *netif_ip4_addr(netif_.get());
  ip4_addr_set_u32(ip_2_ip4(&netif_->ip_addr), lwip_htonl(deliver_as));
  if (netif_->input(p, netif_.get()) != ERR_OK) pbuf_free(p);
  ip4_addr_copy(*ip_2_ip4(&netif_->ip_addr), saved);
}

}  // namespace matchlock::net
