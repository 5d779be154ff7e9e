// The guest's end of an intercepted connection the proxy handles: for TLS it terminates the
// guest's TLS (a leaf from the sandbox CA for the SNI) and speaks plaintext to the session
// the negotiated ALPN picks; for sniffed plain HTTP it hands the bytes over as they are.
//
// THREAT MODEL: guest bytes. The TLS session bounds its ciphertext buffer and fails cleanly
// on garbage (the guest gets an alert and a reset); the guest's window is reopened only as the
// session consumes its input (kInputHighWater), so nothing here buffers without bound.
#pragma once

#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "net/proxy/guest_channel.h"
#include "net/proxy/mitm_services.h"
#include "net/stack/addresses.h"
#include "net/tcp/guest_stream.h"
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
  std::unique_ptr<GuestProtocolSession> session_;
  size_t held_credit_ = 0;
  bool ended_ = false;
  bool fin_seen_ = false;
  bool gone_ = false;
};

}  // namespace matchlock::net::proxy
