// Interception's endpoint: the guest's handshake completes at once, its first bytes are
// classified and every decision is the StreamGate's (pure policy). This class only carries the
// decisions out: allowed bytes go to the next hop, which it opens on the first allowed bytes;
// a refusal answers the guest (403/400) or resets it.
//
// The next hop is the seam for what comes after interception: today a relay to the
// destination (UpstreamRelay); a TLS-terminating proxy endpoint plugs in through the same
// InterceptRoute without the relay or the gate changing.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/uv.h"
#include "net/intercept/stream_gate.h"
#include "net/stack/addresses.h"
#include "net/tcp/guest_stream.h"

namespace matchlock::net {

// Opens what carries an intercepted connection's allowed bytes to `dst`.
using InterceptRoute = std::function<std::unique_ptr<GuestStreamEndpoint>(const Endpoint& dst)>;

// Opens the HTTP proxy for a connection classified as TLS (`tls`) or plain HTTP. Set only when
// the sandbox intercepts TLS (a CA): such connections are then the proxy's from their first
// byte, and it runs the policy per request (a blocked host gets the HTTP 403, inside TLS too).
using ProxyRoute =
    std::function<std::unique_ptr<GuestStreamEndpoint>(bool tls, const Endpoint& dst)>;

class InterceptEndpoint final : public GuestStreamEndpoint, private GuestSide {
 public:
  // `policy` must outlive the endpoint.
  InterceptEndpoint(uv_loop_t* loop, PolicyHook& policy, const Endpoint& dst, InterceptRoute route,
                    ProxyRoute proxy_route = {});

  void start(GuestSide& guest) override;
  void on_bytes(GuestBytes bytes) override;
  void on_guest_fin() override;
  void on_guest_congested() override;
  void on_guest_room() override;
  void reset() override;
  void close() override;

 private:
  enum class NextHop { kNone, kInUse, kDropped };

  // Carries out one gate decision; false if the guest must be reset.
  bool execute(StreamAction action, size_t credit);
  void on_sniff_timeout();
  void open_next_hop();
  // With a ProxyRoute: holds the first bytes until they classify; true if they were taken
  // (kept for more, or handed to the proxy), false if the gate decides (data/credit set).
  bool classify_for_proxy(std::string& data, size_t& credit);
  void hand_to_proxy(bool tls);

  // GuestSide for the next hop: the guest's side, except that a reply owed to the guest
  // (a 403 after earlier allowed responses) goes out when the next hop ends.
  void send(std::string_view bytes) override { guest_->send(bytes); }
  void end() override;
  void credit(size_t bytes) override { guest_->credit(bytes); }
  void stream_delivered() override { guest_->stream_delivered(); }
  void reset_connection() override { guest_->reset_connection(); }
  size_t room() const override { return guest_->room(); }
  bool connected() const override { return guest_->connected(); }

  Endpoint dst_;
  InterceptRoute route_;
  ProxyRoute proxy_route_;
  bool classifying_ = false;  // holding the first bytes for the proxy's classification
  std::string sniffed_;
  size_t sniffed_credit_ = 0;
  std::unique_ptr<GuestStreamEndpoint> proxy_;  // set: the whole connection is the proxy's
  StreamGate gate_;
  GuestSide* guest_ = nullptr;
  NextHop hop_state_ = NextHop::kNone;
  std::unique_ptr<GuestStreamEndpoint> next_hop_;
  bool forwarded_any_ = false;
  std::optional<std::string> deferred_reply_;
  uv::Timer sniff_timer_;
};

}  // namespace matchlock::net
