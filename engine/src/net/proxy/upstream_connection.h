// The proxy's connection to one upstream server: a libuv socket to the exact address the
// policy checked, with TLS on top when the guest spoke TLS (SNI = the request's host, the
// server's certificate verified against the host trust store, net/tls/contexts.h). Plaintext
// in and out; the owner hears readiness, data, the end, failures and write drain.
//
// Reads are flow-controlled by the owner's `room` (the guest's free window): at 0 they pause
// until resume_reads(). Writes are counted until the socket took them (in_flight()), so the
// owner stops reading the guest while the upstream is slow.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/uv.h"
#include "net/nat/upstream_socket.h"
#include "net/stack/addresses.h"
#include "net/tls/tls_session.h"

namespace matchlock::net::proxy {

struct UpstreamTarget {
  Endpoint address;
  bool tls = false;
  std::string server_name;  // SNI and the name verified (TLS only)
  // TLS only: ALPN offers h2 and http/1.1 (application_protocol() says what the server chose).
  // Not part of the identity: a connection that settled on HTTP/1.1 serves like any other.
  bool offer_h2 = false;

  bool operator==(const UpstreamTarget& o) const {
    return address.ip == o.address.ip && address.port == o.address.port && tls == o.tls &&
           server_name == o.server_name;
  }
};

class UpstreamHandler {
 public:
  virtual ~UpstreamHandler() = default;
  virtual void on_upstream_ready() = 0;
  virtual void on_upstream_data(std::string_view plaintext) = 0;
  virtual void on_upstream_eof() = 0;
  // Connect, TLS (certificate verification) or I/O failure; the connection is unusable.
  virtual void on_upstream_error(const std::string& why) = 0;
  virtual void on_upstream_drained() = 0;  // in_flight() fell to 0
};

// A server that neither refuses nor completes the TCP and TLS handshakes in this long is
// treated as failed (the guest gets 502) instead of holding the request for the kernel's
// minutes of SYN retries, or forever for a peer that accepts and stays silent.
constexpr uint64_t kUpstreamSetupTimeoutMs = 30'000;

class UpstreamConnection {
 public:
  // `upstream_tls` must outlive the connection (it is the sandbox's upstream context).
  UpstreamConnection(uv_loop_t* loop, SSL_CTX& upstream_tls, UpstreamTarget target,
                     UpstreamHandler& handler, std::function<size_t()> room,
                     uint64_t setup_timeout_ms = kUpstreamSetupTimeoutMs);
  ~UpstreamConnection();

  const UpstreamTarget& target() const { return target_; }
  // What the TLS handshake negotiated (kUnspecified before it is done, or without TLS).
  tls::ApplicationProtocol application_protocol() const;
  // Hands the connection to another owner: handler calls and the read window are theirs from
  // now on (the previous handler hears nothing more).
  void set_handler(UpstreamHandler& handler, std::function<size_t()> room);
  bool ready() const { return ready_; }
  bool usable() const { return !failed_ && !eof_; }
  // Plaintext for the server; kept until the connection is ready.
  void write(std::string_view plaintext);
  size_t in_flight() const { return in_flight_; }
  void resume_reads();
  void reset();  // RST the server (an exchange broke off mid-message)
  // The owner lets go: no handler call happens from now on (the socket closes with us).
  void detach();

 private:
  void on_connected(int status);
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void start_reads();
  void send_raw(std::string bytes);
  void flush_tls();
  void fail(const std::string& why);
  bool alive_after(const std::shared_ptr<bool>& token) const { return *token; }

  uv_loop_t* loop_;
  SSL_CTX& upstream_tls_;
  UpstreamTarget target_;
  UpstreamHandler* handler_;
  std::function<size_t()> room_;
  std::unique_ptr<UpstreamSocket> socket_;
  uv::Timer setup_timer_;  // connect + TLS handshake deadline
  std::optional<tls::TlsSession> tls_;
  std::string pending_;  // plaintext written before ready
  size_t in_flight_ = 0;
  bool connected_ = false;
  bool ready_ = false;
  bool reading_ = false;
  bool failed_ = false;
  bool eof_ = false;
  bool detached_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace matchlock::net::proxy
