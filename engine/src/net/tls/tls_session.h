// One TLS connection driven over memory BIOs, so the bytes can come from anywhere (an lwIP
// guest stream, a libuv socket): ciphertext in -> plaintext out, plaintext in -> ciphertext out.
// The same class serves both roles: the SSL it wraps was made in accept state (guest-facing,
// contexts.h new_guest_connection) or connect state (upstream, new_upstream_connection).
//
// THREAT MODEL: on the guest-facing side every ciphertext byte is the guest's. OpenSSL parses
// the records; this class bounds what it holds (kMaxBufferedCiphertext of unread ciphertext)
// and turns every OpenSSL failure into an Error: garbage ends the session, never the process.
// Once failed, the session stays failed.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"
#include "net/tls/alpn.h"
#include "net/tls/openssl_handles.h"

namespace matchlock::net::tls {

// Ciphertext fed but not yet decrypted: a peer that outruns its reader is refused past this
// (the owner reads plaintext out as it feeds, so only a misbehaving peer gets here).
constexpr size_t kMaxBufferedCiphertext = 1024 * 1024;

class TlsSession {
 public:
  // `ssl` must be in accept or connect state; the session gives it its memory BIOs.
  static Result<TlsSession> wrap(SslPtr ssl);

  TlsSession(TlsSession&&) noexcept = default;
  TlsSession& operator=(TlsSession&&) noexcept = default;

  // Ciphertext from the peer. Advances the handshake; kProtocol when the handshake or a
  // record fails (the alert, if any, is then in take_ciphertext()).
  Status feed_ciphertext(std::string_view bytes);
  // Appends up to `max` bytes of decrypted plaintext to `out`; returns how many.
  Result<size_t> read_plaintext(std::string& out, size_t max);
  // Plaintext for the peer; queued until the handshake is done, then encrypted.
  Status write_plaintext(std::string_view bytes);
  // Ciphertext for the peer (handshake messages, records, alerts); empties the queue.
  std::string take_ciphertext();
  // Sends close_notify (take_ciphertext() then has it).
  void close_notify();

  // The handshake waits after the ClientHello (contexts.h hold_h2_client_hello): ciphertext fed
  // meanwhile is kept (bounded as always) until resume_handshake().
  bool handshake_paused() const { return handshake_paused_; }
  Status resume_handshake();

  bool handshake_done() const { return handshake_done_; }
  bool peer_closed() const { return peer_closed_; }  // close_notify received
  bool failed() const { return failed_; }
  ApplicationProtocol application_protocol() const;
  // The client role's certificate verification result, as text ("ok" when verified).
  std::string verify_result() const;
  SSL& ssl() { return *ssl_; }

 private:
  explicit TlsSession(SslPtr ssl) : ssl_(std::move(ssl)) {}
  Status advance_handshake();
  Status flush_queued_plaintext();
  Status fail(const std::string& what);

  SslPtr ssl_;
  BIO* in_ = nullptr;   // owned by ssl_
  BIO* out_ = nullptr;  // owned by ssl_
  std::string queued_plaintext_;
  bool handshake_done_ = false;
  bool handshake_paused_ = false;
  bool peer_closed_ = false;
  bool failed_ = false;
};

}  // namespace matchlock::net::tls
