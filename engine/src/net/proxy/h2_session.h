// The HTTP/2 proxy session of one guest connection whose TLS negotiated h2: an
// h2::H2ExchangeBridge between the guest's plaintext channel and the upstream connection that
// was dialled (and negotiated h2) while the guest's handshake waited (EarlyUpstream). The
// bridge runs the policy per stream; this class only carries bytes, readiness and closes
// between the two connections and the bridge.
//
// Backpressure: the bridge frames nothing more for the guest while its window is shut
// (GuestChannel::room) and nothing more for the upstream while kUpstreamHighWater bytes are in
// flight; each side's drain calls it back. Guest input is never held here (the bridge takes it
// at once, bounded by the HTTP/2 windows it advertises), so buffered_input() is 0.
#pragma once

#include <uv.h>

#include <memory>
#include <string>

#include "net/h2/h2_exchange_bridge.h"
#include "net/proxy/early_upstream.h"
#include "net/proxy/guest_channel.h"
#include "net/proxy/http1_session.h"
#include "net/proxy/mitm_services.h"

namespace matchlock::net::proxy {

// Bytes written to the upstream socket and not yet taken before the bridge stops framing.
constexpr size_t kUpstreamHighWater = 256 * 1024;

class H2Session final : public GuestProtocolSession, private UpstreamHandler {
 public:
  // `early` must be ready() with h2 negotiated; the session takes its connection over.
  // `services` and `guest` must outlive the session.
  H2Session(uv_loop_t* loop, MitmServices& services, ConnectionFacts facts, GuestChannel& guest,
            EarlyUpstream& early);
  ~H2Session() override;

  void on_guest_data(std::string_view plaintext) override;
  void on_guest_eof() override;
  void on_guest_room() override;
  void on_guest_gone() override;
  size_t buffered_input() const override { return 0; }

 private:
  class GuestLeg final : public h2::H2Transport {
   public:
    explicit GuestLeg(H2Session& session) : session_(session) {}
    void send(std::string bytes) override;
    bool can_send() const override;
    void close() override;

   private:
    H2Session& session_;
  };
  class UpstreamLeg final : public h2::H2Transport {
   public:
    explicit UpstreamLeg(H2Session& session) : session_(session) {}
    void send(std::string bytes) override;
    bool can_send() const override;
    void close() override;

   private:
    H2Session& session_;
  };

  // UpstreamHandler.
  void on_upstream_ready() override {}
  void on_upstream_data(std::string_view plaintext) override;
  void on_upstream_eof() override;
  void on_upstream_error(const std::string& why) override;
  void on_upstream_drained() override;

  void retire_upstream();

  uv_loop_t* loop_;
  GuestChannel& guest_;
  std::unique_ptr<UpstreamConnection> upstream_;
  GuestLeg guest_leg_{*this};
  UpstreamLeg upstream_leg_{*this};
  bool guest_gone_ = false;                       // the channel takes nothing more
  std::unique_ptr<h2::H2ExchangeBridge> bridge_;  // last: it goes first, its legs after it
};

}  // namespace matchlock::net::proxy
