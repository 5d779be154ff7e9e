// One guest TCP connection relayed to one host socket, with back-pressure both ways:
// guest→host reopens the lwIP window only after the host socket took the bytes; host→guest
// pauses host reads while lwIP's send buffer is low.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/uv.h"
#include "net/dns/dns_tcp_session.h"
#include "net/intercept/stream_gate.h"
#include "net/nat/tcp_relay.h"

struct tcp_pcb;
struct pbuf;

namespace matchlock::net {

class TcpConn : public std::enable_shared_from_this<TcpConn> {
 public:
  enum class State { kConnecting, kSynDelivered, kEstablished, kDone };

  TcpConn(TcpRelay& relay, uint64_t key, const PacketInfo& syn, const uint8_t* frame, size_t len,
          uint64_t now_ms);
  ~TcpConn();

  // NAT: starts the upstream connect; the held SYN goes to lwIP when it succeeds.
  void connect(uv_loop_t* loop, const Endpoint& to);
  // Interception: the SYN is answered at once; the first bytes decide whether `dst` is dialled.
  void intercept(uv_loop_t* loop, PolicyHook& policy, const Endpoint& dst);
  // DNS over TCP: the engine answers; nothing is dialled for this connection.
  void serve_dns(uv_loop_t* loop, DnsForwarder& dns);
  // lwIP completed the handshake: wire the pcb to this connection.
  void attach(struct tcp_pcb* pcb);
  // Drops both sides with resets (sweep, relay teardown).
  void abort();

  State state() const { return state_; }
  uint64_t created_ms() const { return created_ms_; }

 private:
  void on_connected(int status);
  void dial(const Endpoint& to);
  // Executes a StreamGate decision; false if the connection was reset (pcb gone).
  bool execute(StreamAction action, size_t credit);
  void on_sniff_timeout();
  void write_up(std::string data, size_t credit);
  void shutdown_up();
  void credit_guest(size_t bytes);
  void start_host_reads();
  void on_host_read(ssize_t nread, const uv_buf_t* buf);
  void push_to_guest();
  void on_guest_sent();
  int8_t on_guest_data(struct pbuf* p);
  void on_guest_error(int8_t err);
  void maybe_finish();
  void release_pcb();
  void reset_upstream();
  void finish();

  static int8_t recv_cb(void* arg, struct tcp_pcb* pcb, struct pbuf* p, int8_t err);
  static int8_t sent_cb(void* arg, struct tcp_pcb* pcb, uint16_t len);
  static void err_cb(void* arg, int8_t err);

  TcpRelay& relay_;
  uint64_t key_;
  PacketInfo syn_;
  std::string held_syn_;
  uint64_t created_ms_;
  State state_ = State::kConnecting;
  struct tcp_pcb* pcb_ = nullptr;
  uv::Handle<uv_tcp_t> up_;
  bool up_open_ = false;
  std::string to_guest_;  // host bytes lwIP could not take yet
  bool reading_ = false;
  bool host_eof_ = false;       // the host closed its side
  bool fin_sent_ = false;       // ... and the guest was told (FIN)
  bool guest_eof_ = false;      // the guest sent FIN
  bool shutdown_done_ = false;  // ... and the host socket was shut down after all writes
  size_t writes_in_flight_ = 0;
  bool connecting_ = false;

  // Interception only.
  uv_loop_t* loop_ = nullptr;
  std::unique_ptr<StreamGate> gate_;
  Endpoint dst_;
  std::string pending_up_;     // allowed bytes waiting for the upstream connect
  size_t pending_credit_ = 0;  // guest window to reopen once they are written
  bool shutdown_pending_ = false;
  bool shutdown_issued_ = false;
  bool forwarded_any_ = false;
  std::optional<std::string> deferred_reply_;  // a 403 owed after earlier responses finish
  uv::Handle<uv_timer_t> sniff_timer_;

  // DNS over TCP only.
  std::unique_ptr<DnsTcpSession> dns_session_;
};

}  // namespace matchlock::net
