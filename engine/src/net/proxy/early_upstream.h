// The upstream connection an h2-offering guest's handshake waits for: dialled (the checked
// address, TLS with the guest's SNI, offering h2 and http/1.1) while the guest's ClientHello is
// held, so the guest is offered h2 only when the upstream chose it (the h2 bridge needs h2 on
// both legs). Once the upstream handshake is done, `settled` fires; bytes the server sends
// before a session takes the connection over (an h2 server's SETTINGS) are kept, bounded.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "net/proxy/upstream_connection.h"

namespace matchlock::net::proxy {

// What the server may send before the session takes over: SETTINGS, a few more frames.
constexpr size_t kMaxEarlyUpstreamBytes = 64 * 1024;

class EarlyUpstream final : private UpstreamHandler {
 public:
  // `settled` is called once: the handshake finished (ready() says whether it worked). It may
  // destroy the EarlyUpstream.
  EarlyUpstream(uv_loop_t* loop, SSL_CTX& upstream_tls, UpstreamTarget target,
                std::function<void()> settled);
  ~EarlyUpstream() override;

  // The handshake succeeded and the connection is still whole.
  bool ready() const { return connection_ && connection_->ready() && !broken_; }
  tls::ApplicationProtocol application_protocol() const;
  // The server closed (after the handshake) before a session took over.
  bool ended() const { return ended_; }
  // For the session taking over: the connection (its handler must be set at once), and the
  // bytes it already sent.
  std::unique_ptr<UpstreamConnection> take_connection() { return std::move(connection_); }
  std::string take_received() { return std::move(received_); }

 private:
  void on_upstream_ready() override;
  void on_upstream_data(std::string_view plaintext) override;
  void on_upstream_eof() override;
  void on_upstream_error(const std::string& why) override;
  void on_upstream_drained() override {}
  void settle();

  std::unique_ptr<UpstreamConnection> connection_;
  std::function<void()> settled_;
  std::string received_;
  bool broken_ = false;
  bool ended_ = false;
};

}  // namespace matchlock::net::proxy
