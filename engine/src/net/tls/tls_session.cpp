#include "net/tls/tls_session.h"

#include <openssl/err.h>

#include "net/tls/openssl_error.h"

namespace matchlock::net::tls {

Result<TlsSession> TlsSession::wrap(SslPtr ssl) {
  if (!ssl) return invalid_argument("TLS session needs an SSL object");
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (!in || !out) {
    BIO_free(in);
    BIO_free(out);
    return openssl_error("TLS session buffers");
  }
  // A drained memory BIO reports "retry", not EOF: more ciphertext may come later.
  BIO_set_mem_eof_return(in, -1);
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(ssl.get(), in, out);  // the SSL owns both BIOs from here on
  TlsSession session(std::move(ssl));
  session.in_ = in;
  session.out_ = out;
  return session;
}

Status TlsSession::fail(const std::string& what) {
  failed_ = true;
  return Error(ErrorCode::kProtocol, openssl_error(what).message);
}

Status TlsSession::feed_ciphertext(std::string_view bytes) {
  if (failed_) return Error(ErrorCode::kProtocol, "TLS session already failed");
  if (BIO_ctrl_pending(in_) + bytes.size() > kMaxBufferedCiphertext) {
    failed_ = true;
    return Error(ErrorCode::kProtocol, "TLS peer sent more than the session buffers");
  }
  if (!bytes.empty() && BIO_write(in_, bytes.data(), static_cast<int>(bytes.size())) !=
                            static_cast<int>(bytes.size())) {
    return fail("TLS input");
  }
  if (!handshake_done_ && !handshake_paused_) return advance_handshake();
  return {};
}

Status TlsSession::resume_handshake() {
  if (failed_) return Error(ErrorCode::kProtocol, "TLS session already failed");
  if (!handshake_paused_) return {};
  handshake_paused_ = false;
  return advance_handshake();
}

Status TlsSession::advance_handshake() {
  clear_openssl_errors();
  int rc = SSL_do_handshake(ssl_.get());
  if (rc == 1) {
    handshake_done_ = true;
    return flush_queued_plaintext();
  }
  int error = SSL_get_error(ssl_.get(), rc);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return {};
  if (error == SSL_ERROR_WANT_CLIENT_HELLO_CB) {
    handshake_paused_ = true;
    return {};
  }
  return fail("TLS handshake");
}

Status TlsSession::flush_queued_plaintext() {
  if (queued_plaintext_.empty()) return {};
  std::string queued = std::move(queued_plaintext_);
  queued_plaintext_.clear();
  return write_plaintext(queued);
}

Result<size_t> TlsSession::read_plaintext(std::string& out, size_t max) {
  if (failed_) return Error(ErrorCode::kProtocol, "TLS session already failed");
  if (!handshake_done_ || peer_closed_) return size_t{0};
  size_t total = 0;
  char buffer[16 * 1024];
  while (total < max) {
    clear_openssl_errors();
    int want = static_cast<int>(std::min(sizeof(buffer), max - total));
    int n = SSL_read(ssl_.get(), buffer, want);
    if (n > 0) {
      out.append(buffer, static_cast<size_t>(n));
      total += static_cast<size_t>(n);
      continue;
    }
    int error = SSL_get_error(ssl_.get(), n);
    if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) break;
    if (error == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      break;
    }
    auto failed = fail("TLS read");
    return failed.error();
  }
  return total;
}

Status TlsSession::write_plaintext(std::string_view bytes) {
  if (failed_) return Error(ErrorCode::kProtocol, "TLS session already failed");
  if (!handshake_done_) {
    queued_plaintext_.append(bytes);
    return {};
  }
  while (!bytes.empty()) {
    clear_openssl_errors();
    // A memory BIO takes everything, so a write fails only when the session does.
    int n = SSL_write(ssl_.get(), bytes.data(),
                      static_cast<int>(std::min<size_t>(bytes.size(), 1 << 30)));
    if (n <= 0) return fail("TLS write");
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

std::string TlsSession::take_ciphertext() {
  std::string out;
  size_t pending = BIO_ctrl_pending(out_);
  if (pending == 0) return out;
  out.resize(pending);
  int n = BIO_read(out_, out.data(), static_cast<int>(pending));
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

void TlsSession::close_notify() {
  if (failed_ || !handshake_done_) return;
  clear_openssl_errors();
  SSL_shutdown(ssl_.get());
  clear_openssl_errors();
}

ApplicationProtocol TlsSession::application_protocol() const {
  return negotiated_application_protocol(*ssl_);
}

std::string TlsSession::verify_result() const {
  return X509_verify_cert_error_string(SSL_get_verify_result(ssl_.get()));
}

}  // namespace matchlock::net::tls
