// Relays guest UDP (other than DNS) to host sockets in NAT mode: one connected host socket per
// guest flow (guest port, destination), closed after a minute without traffic.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

#include "core/uv.h"
#include "net/nat/tcp_relay.h"
#include "net/stack/lwip_stack.h"
#include "net/stack/packet_info.h"

struct udp_pcb;
struct pbuf;

namespace matchlock::net {

class UdpRelay {
 public:
  UdpRelay(uv_loop_t* loop, LwipStack& stack);
  ~UdpRelay();
  UdpRelay(const UdpRelay&) = delete;
  UdpRelay& operator=(const UdpRelay&) = delete;

  // Called before lwIP sees a UDP datagram the policy allows: makes sure a pcb listens on
  // its port (the swap does the rest).
  void prepare(const PacketInfo& info);

 private:
  struct Flow;
  void on_datagram(struct udp_pcb* pcb, struct pbuf* p, uint32_t guest, uint16_t gport,
                   uint32_t dst, uint16_t dport);
  void sweep();

  uv_loop_t* loop_;
  LwipStack& stack_;
  std::map<uint16_t, struct udp_pcb*> ports_;
  std::map<uint64_t, std::unique_ptr<Flow>> flows_;
  uv::Timer sweep_timer_;
};

}  // namespace matchlock::net
