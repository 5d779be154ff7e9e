// The front door for guest TCP connections: sees every SYN, asks the planner what the
// connection is for, and completes a ConnectionRequest with the endpoint of that mode (NAT
// relay once its dial succeeded, interception, DNS over TCP). Owns the connections, the lwIP
// listeners their handshakes complete on, and the sweep of handshakes that never complete.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/uv.h"
#include "net/nat/nat_dialer.h"
#include "net/stack/addresses.h"
#include "net/stack/lwip_stack.h"
#include "net/stack/packet_info.h"

struct tcp_pcb;

namespace matchlock::net {

class TcpConn;
class PolicyHook;
class DnsForwarder;

// What happens to a new guest connection, decided from its SYN alone.
struct TcpPlan {
  enum class Kind {
    kRefuse,     // RST at once
    kRelay,      // NAT: hold the SYN, dial `to`, then complete the handshake
    kIntercept,  // complete the handshake, classify the first bytes, ask the policy hook
    kLocalDns,   // complete the handshake; the engine answers DNS over TCP itself
  };
  Kind kind = Kind::kRefuse;
  Endpoint to;
};

class TcpRelay {
 public:
  using Planner = std::function<TcpPlan(uint32_t dst, uint16_t dport)>;

  // `policy` (null in NAT mode) and `dns` must outlive the relay.
  TcpRelay(uv_loop_t* loop, LwipStack& stack, Planner planner, PolicyHook* policy,
           DnsForwarder* dns);
  ~TcpRelay();
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // Sees every guest TCP segment with SYN and no ACK before lwIP. True if consumed.
  bool on_syn(const PacketInfo& info, const uint8_t* frame, size_t len);

  size_t connection_count() const { return conns_.size(); }

 private:
  friend class TcpConn;
  static uint64_t key(uint16_t guest_port, uint32_t dst, uint16_t dport) {
    return (uint64_t{dst} << 32) | (uint64_t{dport} << 16) | guest_port;
  }
  void send_rst(const PacketInfo& info);
  bool ensure_listener(uint16_t port);
  void remove(uint64_t key);
  void sweep();
  static int8_t on_accept(void* arg, struct tcp_pcb* newpcb, int8_t err);

  uv_loop_t* loop_;
  LwipStack& stack_;
  Planner planner_;
  PolicyHook* policy_;
  DnsForwarder* dns_;
  NatDialer dialer_;
  std::map<uint64_t, std::shared_ptr<TcpConn>> conns_;
  std::map<uint16_t, struct tcp_pcb*> listeners_;  // closed in the destructor
  uv::Timer sweep_timer_;
};

}  // namespace matchlock::net
