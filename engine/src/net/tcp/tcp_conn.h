// The guest's side of one TCP connection: the lwIP pcb, the bytes queued for the guest, the two
// half-close states and the handshake phase. What carries the bytes is the endpoint it was
// accepted with (guest_stream.h); this class has no per-mode branches. Back-pressure both
// ways: the guest's window reopens only when the endpoint credits delivered bytes; the
// endpoint hears when lwIP's send buffer fills and empties.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/stack/packet_info.h"
#include "net/tcp/conn_states.h"
#include "net/tcp/guest_pcb.h"
#include "net/tcp/guest_stream.h"

struct tcp_pcb;
struct pbuf;

namespace matchlock::net {

class TcpRelay;

class TcpConn final : public std::enable_shared_from_this<TcpConn>,
                      private GuestPcb::Events,
                      private GuestSide {
 public:
  TcpConn(TcpRelay& relay, uint64_t key, const PacketInfo& syn, uint64_t now_ms);
  ~TcpConn() override;

  // Keeps the SYN from lwIP until the connection is accepted (NAT: the upstream answered).
  void hold_syn(const uint8_t* frame, size_t len);
  // ConnectionRequest's two outcomes. accept() takes `endpoint` only on success.
  bool accept(std::unique_ptr<GuestStreamEndpoint>& endpoint);
  void refuse();
  // lwIP completed the handshake: wire the pcb to this connection.
  void attach(struct tcp_pcb* pcb);
  // Drops both sides with resets (sweep, relay teardown).
  void abort();

  ConnPhase phase() const { return phase_; }
  const PacketInfo& syn() const { return syn_; }
  uint64_t created_ms() const { return created_ms_; }

 private:
  // GuestPcb::Events
  int8_t on_guest_data(struct pbuf* p) override;
  void on_guest_acked() override;
  void on_guest_error(int8_t err) override;
  // GuestSide
  void send(std::string_view bytes) override;
  void end() override;
  void credit(size_t bytes) override;
  void stream_delivered() override;
  void reset_connection() override { abort(); }
  size_t room() const override { return pcb_.send_room(); }
  bool connected() const override { return pcb_.attached(); }

  void on_guest_fin();
  void flush_to_guest();
  void maybe_finish();
  void finish();
  void move_to(ConnEvent event);

  TcpRelay& relay_;
  uint64_t key_;
  PacketInfo syn_;
  std::string held_syn_;
  uint64_t created_ms_;
  ConnPhase phase_ = ConnPhase::kSynHeld;
  GuestHalf guest_half_ = GuestHalf::kOpen;
  HostHalf host_half_ = HostHalf::kOpen;
  std::string to_guest_;  // bytes lwIP could not take yet
  // Declared before the pcb: lwIP callbacks reach the endpoint, so the pcb goes first.
  std::unique_ptr<GuestStreamEndpoint> endpoint_;
  GuestPcb pcb_;
};

}  // namespace matchlock::net
