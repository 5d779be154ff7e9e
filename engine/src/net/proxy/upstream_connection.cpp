#include "net/proxy/upstream_connection.h"

#include "net/tls/contexts.h"

namespace matchlock::net::proxy {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

}  // namespace

UpstreamConnection::UpstreamConnection(uv_loop_t* loop, SSL_CTX& upstream_tls,
                                       UpstreamTarget target, UpstreamHandler& handler,
                                       std::function<size_t()> room, uint64_t setup_timeout_ms)
    : loop_(loop),
      upstream_tls_(upstream_tls),
      target_(std::move(target)),
      handler_(&handler),
      room_(std::move(room)),
      socket_(UpstreamSocket::dial(loop, target_.address)),
      setup_timer_(loop) {
  socket_->on_connected([this](int status) { on_connected(status); });
  setup_timer_.start(setup_timeout_ms, [this, setup_timeout_ms] {
    if (!ready_) {
      fail("no connection to " + ipv4_text(target_.address.ip) + ":" +
           std::to_string(target_.address.port) + " within " + std::to_string(setup_timeout_ms) +
           " ms");
    }
  });
}

UpstreamConnection::~UpstreamConnection() {
  *alive_ = false;
  if (socket_) socket_->close();
}

tls::ApplicationProtocol UpstreamConnection::application_protocol() const {
  if (!tls_ || !ready_) return tls::ApplicationProtocol::kUnspecified;
  return tls_->application_protocol();
}

void UpstreamConnection::set_handler(UpstreamHandler& handler, std::function<size_t()> room) {
  handler_ = &handler;
  room_ = std::move(room);
}

void UpstreamConnection::fail(const std::string& why) {
  if (failed_ || detached_) return;
  failed_ = true;
  if (reading_) socket_->stop_reads();
  reading_ = false;
  handler_->on_upstream_error(why);
}

void UpstreamConnection::detach() {
  detached_ = true;
  *alive_ = false;
  if (reading_) socket_->stop_reads();
  reading_ = false;
}

void UpstreamConnection::on_connected(int status) {
  if (detached_ || failed_) return;
  if (status != 0)
    return fail("connect to " + ipv4_text(target_.address.ip) + ":" +
                std::to_string(target_.address.port) + " failed: " + uv::error_text(status));
  connected_ = true;
  if (target_.tls) {
    auto ssl = tls::new_upstream_connection(upstream_tls_, target_.server_name, target_.offer_h2);
    if (!ssl) return fail(ssl.error().message);
    auto session = tls::TlsSession::wrap(std::move(*ssl));
    if (!session) return fail(session.error().message);
    tls_.emplace(std::move(*session));
    if (auto started = tls_->feed_ciphertext({}); !started) return fail(started.error().message);
    flush_tls();
  } else {
    ready_ = true;
    setup_timer_.stop();
  }
  start_reads();
  if (ready_) {
    auto token = alive_;
    handler_->on_upstream_ready();
    if (!*token) return;
    if (!pending_.empty()) {
      std::string queued = std::move(pending_);
      pending_.clear();
      write(queued);
    }
  }
}

void UpstreamConnection::write(std::string_view plaintext) {
  if (failed_ || plaintext.empty()) return;
  if (!ready_) {
    pending_.append(plaintext);
    return;
  }
  if (tls_) {
    if (auto written = tls_->write_plaintext(plaintext); !written)
      return fail(written.error().message);
    return flush_tls();
  }
  send_raw(std::string(plaintext));
}

void UpstreamConnection::flush_tls() {
  std::string out = tls_->take_ciphertext();
  if (!out.empty()) send_raw(std::move(out));
}

void UpstreamConnection::send_raw(std::string bytes) {
  size_t size = bytes.size();
  in_flight_ += size;
  auto token = alive_;
  int rc = socket_->write(GuestBytes(std::move(bytes), 0), [this, token, size](int status) {
    if (!*token) return;
    in_flight_ -= size;
    if (status != 0) return fail("write to upstream failed: " + uv::error_text(status));
    if (in_flight_ == 0) handler_->on_upstream_drained();
  });
  if (rc != 0) {
    in_flight_ -= size;
    fail("write to upstream failed: " + uv::error_text(rc));
  }
}

void UpstreamConnection::start_reads() {
  if (reading_ || failed_ || eof_ || !connected_ || detached_) return;
  reading_ = true;
  socket_->start_reads(
      [this] {
        // The TLS handshake must progress whatever the guest's window says.
        if (tls_ && !ready_) return kReadChunk;
        return std::min(kReadChunk, room_());
      },
      [this](ssize_t nread, const uv_buf_t* buf) { on_read(nread, buf); });
}

void UpstreamConnection::resume_reads() {
  start_reads();
}

void UpstreamConnection::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0 || detached_) return;
  if (nread == UV_ENOBUFS) {  // the guest has no room: resume_reads() restarts
    socket_->stop_reads();
    reading_ = false;
    return;
  }
  if (nread < 0) {
    socket_->stop_reads();
    reading_ = false;
    if (nread != UV_EOF)
      return fail("upstream read failed: " + uv::error_text(static_cast<int>(nread)));
    if (tls_ && !ready_) return fail("upstream closed during the TLS handshake");
    eof_ = true;
    return handler_->on_upstream_eof();
  }
  std::string_view bytes(buf->base, static_cast<size_t>(nread));
  if (!tls_) return handler_->on_upstream_data(bytes);
  auto token = alive_;
  bool was_ready = ready_;
  if (auto fed = tls_->feed_ciphertext(bytes); !fed) {
    std::string why = fed.error().message;
    if (SSL_get_verify_result(&tls_->ssl()) != X509_V_OK) {
      why = "upstream certificate verification failed: " + tls_->verify_result();
    }
    return fail(why);
  }
  flush_tls();
  if (!*token || failed_) return;
  if (!was_ready && tls_->handshake_done()) {
    ready_ = true;
    setup_timer_.stop();
    handler_->on_upstream_ready();
    if (!*token) return;
    if (!pending_.empty()) {
      std::string queued = std::move(pending_);
      pending_.clear();
      write(queued);
      if (!*token || failed_) return;
    }
  }
  std::string plaintext;
  auto read = tls_->read_plaintext(plaintext, 1 << 20);
  if (!read) return fail(read.error().message);
  flush_tls();  // TLS 1.3 may answer post-handshake messages
  if (!plaintext.empty()) {
    handler_->on_upstream_data(plaintext);
    if (!*token) return;
  }
  if (tls_->peer_closed() && !eof_) {
    eof_ = true;
    socket_->stop_reads();
    reading_ = false;
    handler_->on_upstream_eof();
  }
}

void UpstreamConnection::reset() {
  failed_ = true;
  socket_->reset();
}

}  // namespace matchlock::net::proxy
