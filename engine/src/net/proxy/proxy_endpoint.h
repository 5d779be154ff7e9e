// The guest's end of an intercepted connection the proxy handles: for TLS it terminates the
// guest's TLS (a leaf from the sandbox CA for the SNI) and speaks plaintext to the session
// the negotiated ALPN picks; for sniffed plain HTTP it hands the bytes over as they are.
//
// HTTP/2: the bridge needs h2 on both legs, so a ClientHello offering h2 (with a SNI the
// connection-level policy allows) is held while the upstream is dialled (EarlyUpstream, offering
// h2 and http/1.1); the guest's handshake then selects h2 only if the upstream did. A failed
// dial completes it with http/1.1, and the HTTP/1.1 session answers 502 as usual.
//
// THREAT MODEL: guest bytes. The TLS session bounds its ciphertext buffer and fails cleanly
// on garbage (the guest gets an alert and a reset); the guest's window is reopened only as the
// session consumes its input (kInputHighWater), so nothing here buffers without bound.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "net/proxy/early_upstream.h"
#include "net/proxy/guest_channel.h"
#include "net/proxy/mitm_services.h"
#include "net/stack/addresses.h"
#include "net/tcp/guest_stream.h"
#include "net/tls/contexts.h"
#include "net/tls/tls_session.h"

namespace matchlock::net::proxy {

// Guest input the session may hold unconsumed before the guest's window stays shut.
constexpr size_t kInputHighWater = 256 * 1024;

class ProxyEndpoint final : public GuestStreamEndpoint, private GuestChannel {
 public:
  enum class Mode { kPlainHttp, kTls };
  // `services` must outlive the endpoint.
  ProxyEndpoint(uv_loop_t* loop, MitmServices& services, const Endpoint& dst, Mode mode);
  ~ProxyEndpoint() override;

  void start(GuestSide& guest) override;
  void on_bytes(GuestBytes bytes) override;
  void on_guest_fin() override;
  void on_guest_congested() override {}
  void on_guest_room() override;
  void reset() override;
  void close() override;

 private:
  // GuestChannel (the session's side).
  void send(std::string_view plaintext) override;
  void end() override;
  void abort() override;
  size_t room() const override;
  void input_consumed() override;

  void on_ciphertext(std::string_view bytes);
  void on_hello_held();
  void on_early_upstream_settled();
  void finish_guest_handshake(tls::GuestAlpn alpn);
  void refuse_prior_knowledge_h2();
  bool open_session();
  void deliver(std::string_view plaintext);
  void flush_ciphertext();
  void release_credit();

  uv_loop_t* loop_;
  MitmServices& services_;
  Endpoint dst_;
  Mode mode_;
  GuestSide* guest_ = nullptr;
  std::optional<tls::TlsSession> tls_;
  std::unique_ptr<EarlyUpstream> early_;  // dialled while the guest's handshake is held
  std::unique_ptr<GuestProtocolSession> session_;
  size_t held_credit_ = 0;
  bool ended_ = false;
  bool fin_seen_ = false;
  bool gone_ = false;
  bool first_bytes_ = true;
};

}  // namespace matchlock::net::proxy
