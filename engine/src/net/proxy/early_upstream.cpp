#include "net/proxy/early_upstream.h"

#include "core/log.h"

namespace matchlock::net::proxy {

EarlyUpstream::EarlyUpstream(uv_loop_t* loop, SSL_CTX& upstream_tls, UpstreamTarget target,
                             std::function<void()> settled)
    : settled_(std::move(settled)) {
  // Reads stop once the handshake is done (room 0): nothing more is wanted until a session
  // takes over, and what already came is bounded by kMaxEarlyUpstreamBytes.
  connection_ = std::make_unique<UpstreamConnection>(loop, upstream_tls, std::move(target),
                                                     static_cast<UpstreamHandler&>(*this),
                                                     [] { return size_t{0}; });
}

EarlyUpstream::~EarlyUpstream() {
  if (connection_) connection_->detach();
}

tls::ApplicationProtocol EarlyUpstream::application_protocol() const {
  return connection_ ? connection_->application_protocol() : tls::ApplicationProtocol::kUnspecified;
}

void EarlyUpstream::settle() {
  if (!settled_) return;
  auto settled = std::move(settled_);
  settled_ = nullptr;
  settled();  // may destroy this
}

void EarlyUpstream::on_upstream_ready() {
  settle();
}

void EarlyUpstream::on_upstream_data(std::string_view plaintext) {
  if (received_.size() + plaintext.size() > kMaxEarlyUpstreamBytes) {
    broken_ = true;  // a server that talks this much unasked is not worth keeping
    return;
  }
  received_.append(plaintext);
}

void EarlyUpstream::on_upstream_eof() {
  ended_ = true;
}

void EarlyUpstream::on_upstream_error(const std::string& why) {
  log::debug("proxy: upstream dialled for the guest's handshake: " + why);
  broken_ = true;
  settle();
}

}  // namespace matchlock::net::proxy
