#include "net/proxy/proxy_endpoint.h"

#include <utility>

#include "core/log.h"
#include "core/uv.h"
#include "net/h2/h2_types.h"
#include "net/proxy/session_factory.h"
#include "net/tls/contexts.h"
#include "net/tls/server_name.h"

namespace matchlock::net::proxy {
namespace {

policy::IpAddress ip_of(uint32_t ip) {
  return policy::IpAddress::v4(ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

// Plaintext read per TLS record batch: bounded so one guest write cannot balloon a buffer.
constexpr size_t kPlaintextBatch = 256 * 1024;

}  // namespace

ProxyEndpoint::ProxyEndpoint(uv_loop_t* loop, MitmServices& services, const Endpoint& dst,
                             Mode mode)
    : loop_(loop), services_(services), dst_(dst), mode_(mode) {}

ProxyEndpoint::~ProxyEndpoint() {
  gone_ = true;
  session_.reset();
  early_.reset();
}

void ProxyEndpoint::start(GuestSide& guest) {
  guest_ = &guest;
  if (mode_ == Mode::kPlainHttp) {
    session_ = make_session_for(tls::ApplicationProtocol::kHttp11, loop_, services_,
                                ConnectionFacts{dst_, false, ""}, *this);
    return;
  }
  auto ssl = tls::new_guest_connection(services_.guest_facing_context(), ip_of(dst_.ip));
  if (!ssl) {
    log::debug("proxy: " + ssl.error().message);
    return guest_->reset_connection();
  }
  if (auto held = tls::hold_h2_client_hello(**ssl); !held)
    log::debug("proxy: " + held.error().message);
  auto session = tls::TlsSession::wrap(std::move(*ssl));
  if (!session) return guest_->reset_connection();
  tls_.emplace(std::move(*session));
}

void ProxyEndpoint::on_bytes(GuestBytes bytes) {
  held_credit_ += bytes.credit();
  std::string data = bytes.take_string();
  if (gone_ || ended_) return release_credit();
  if (mode_ == Mode::kPlainHttp) {
    // The sniffer hands over HTTP/1.x heads only; a prior-knowledge HTTP/2 preface that got
    // here anyway is refused, never parsed as HTTP/1.1.
    if (std::exchange(first_bytes_, false) && data.starts_with(h2::kClientPreface.substr(0, 16))) {
      refuse_prior_knowledge_h2();
      return release_credit();
    }
    deliver(data);
  } else {
    on_ciphertext(data);
  }
  release_credit();
}

void ProxyEndpoint::on_ciphertext(std::string_view bytes) {
  if (!tls_) return;
  auto fed = tls_->feed_ciphertext(bytes);
  flush_ciphertext();  // handshake messages, or the alert of a failure
  if (!fed) {
    log::debug("proxy: guest TLS: " + fed.error().message);
    if (session_) session_->on_guest_gone();
    ended_ = true;
    guest_->stream_delivered();
    return guest_->end();
  }
  if (tls_->handshake_paused()) return on_hello_held();
  if (!tls_->handshake_done()) return;
  if (!session_ && !open_session()) return;
  // Decrypt what is there; the session's own buffer is what the window follows.
  while (tls_ && !ended_ && session_) {
    std::string plaintext;
    auto read = tls_->read_plaintext(plaintext, kPlaintextBatch);
    if (!read) {
      if (session_) session_->on_guest_gone();
      return guest_->reset_connection();
    }
    if (*read == 0) break;
    deliver(plaintext);
  }
  if (tls_ && tls_->peer_closed() && session_ && !fin_seen_) {
    fin_seen_ = true;
    session_->on_guest_eof();
  }
}

// The guest offered h2: dial its upstream now (if the connection may go there at all) and let
// the guest's handshake wait for the upstream's choice.
void ProxyEndpoint::on_hello_held() {
  if (early_) return;  // dialling already; the guest's further bytes wait in the TLS session
  auto hello = tls::held_client_hello(tls_->ssl());
  if (!hello || !services_.may_connect(dst_.ip, dst_.port, hello->server_name)) {
    return finish_guest_handshake(tls::GuestAlpn::kHttp11Only);
  }
  UpstreamTarget target{dst_, true, hello->server_name, /*offer_h2=*/true};
  early_ = std::make_unique<EarlyUpstream>(loop_, services_.upstream_context(), std::move(target),
                                           [this] { on_early_upstream_settled(); });
}

void ProxyEndpoint::on_early_upstream_settled() {
  bool h2 = early_->ready() && early_->application_protocol() == tls::ApplicationProtocol::kH2;
  if (!early_->ready()) {
    // Freed on a later loop turn: this runs inside the connection's own callback.
    std::shared_ptr<EarlyUpstream> failed(std::move(early_));
    uv::defer(loop_, [failed] {});
  }
  finish_guest_handshake(h2 ? tls::GuestAlpn::kH2AndHttp11 : tls::GuestAlpn::kHttp11Only);
}

void ProxyEndpoint::finish_guest_handshake(tls::GuestAlpn alpn) {
  if (gone_ || ended_ || !tls_) return;
  tls::release_client_hello(tls_->ssl(), alpn);
  if (auto resumed = tls_->resume_handshake(); !resumed) {
    flush_ciphertext();
    log::debug("proxy: guest TLS: " + resumed.error().message);
    ended_ = true;
    guest_->stream_delivered();
    return guest_->end();
  }
  on_ciphertext({});  // sends the server's flight; goes on with what the guest sent meanwhile
}

// A server connection preface (empty SETTINGS) and GOAWAY(HTTP_1_1_REQUIRED), then the end.
void ProxyEndpoint::refuse_prior_knowledge_h2() {
  static constexpr char kRefusal[] = {
      0, 0, 0, 0x4, 0, 0, 0, 0, 0,                           // SETTINGS, empty
      0, 0, 8, 0x7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xd  // GOAWAY, last 0, code 0xd
  };
  log::debug("proxy: refused HTTP/2 prior knowledge on plain HTTP");
  send(std::string_view(kRefusal, sizeof(kRefusal)));
  end();
}

bool ProxyEndpoint::open_session() {
  ConnectionFacts facts{dst_, true, ""};
  if (const char* sni = SSL_get_servername(&tls_->ssl(), TLSEXT_NAMETYPE_host_name)) {
    // Already accepted by the leaf selection (contexts.cpp), so this parse succeeds.
    if (auto name = tls::parse_server_name(sni)) facts.sni = name->text;
  }
  session_ = make_session_for(tls_->application_protocol(), loop_, services_, std::move(facts),
                              *this, early_.get());
  if (!session_) {
    log::debug("proxy: no session for the negotiated application protocol");
    end();
    return false;
  }
  return true;
}

void ProxyEndpoint::deliver(std::string_view plaintext) {
  if (session_ && !plaintext.empty()) session_->on_guest_data(plaintext);
}

void ProxyEndpoint::on_guest_fin() {
  fin_seen_ = true;
  if (session_ && !gone_) return session_->on_guest_eof();
  guest_->stream_delivered();
  if (!ended_) end();
}

void ProxyEndpoint::on_guest_room() {
  if (session_) session_->on_guest_room();
}

void ProxyEndpoint::reset() {
  if (gone_) return;
  gone_ = true;
  if (session_) session_->on_guest_gone();
}

void ProxyEndpoint::close() {
  if (gone_) return;
  gone_ = true;
  if (session_) session_->on_guest_gone();
}

void ProxyEndpoint::send(std::string_view plaintext) {
  if (gone_ || ended_ || plaintext.empty()) return;
  if (!tls_) return guest_->send(plaintext);
  if (auto written = tls_->write_plaintext(plaintext); !written) return guest_->reset_connection();
  flush_ciphertext();
}

void ProxyEndpoint::flush_ciphertext() {
  if (!tls_) return;
  std::string out = tls_->take_ciphertext();
  if (!out.empty()) guest_->send(out);
}

void ProxyEndpoint::end() {
  if (gone_ || ended_) return;
  ended_ = true;
  if (tls_) {
    tls_->close_notify();
    flush_ciphertext();
  }
  guest_->stream_delivered();  // nothing more of the guest's stream is wanted
  guest_->end();
  release_credit();
}

void ProxyEndpoint::abort() {
  if (gone_) return;
  guest_->reset_connection();
}

size_t ProxyEndpoint::room() const {
  return gone_ || ended_ ? 0 : guest_->room();
}

void ProxyEndpoint::input_consumed() {
  release_credit();
}

void ProxyEndpoint::release_credit() {
  if (held_credit_ == 0 || !guest_) return;
  if (session_ && !ended_ && !gone_ && session_->buffered_input() > kInputHighWater) return;
  size_t credit = held_credit_;
  held_credit_ = 0;
  guest_->credit(credit);
}

}  // namespace matchlock::net::proxy
