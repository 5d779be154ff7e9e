#include "net/nat/tcp_conn.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <vector>

#include "core/log.h"
#include "lwip/tcp.h"
#include "net/stack/addresses.h"

namespace matchlock::net {
namespace {

constexpr size_t kMaxHostRead = 256 * 1024;
constexpr uint64_t kSniffTimeoutMs = 1000;

// Copies a received pbuf chain into one string and frees it (lwIP hands us ownership).
std::string take_pbuf(pbuf* p) {
  std::string data(p->tot_len, '\0');
  pbuf_copy_partial(p, data.data(), p->tot_len, 0);
  pbuf_free(p);
  return data;
}
// One buffer serves every connection: libuv calls alloc then read synchronously, and the
// bytes are copied into lwIP (TCP_WRITE_FLAG_COPY) before the next read.
char g_read_buf[kMaxHostRead];

// Write and shutdown requests reach their connection through a weak reference.
struct GuestBytesWrite {
  uv_write_t req;
  struct pbuf* p = nullptr;
  std::weak_ptr<TcpConn> conn;
};

template <typename Req>
struct WeakReq {
  Req req;
  std::weak_ptr<TcpConn> conn;
};

}  // namespace

TcpConn::TcpConn(TcpRelay& relay, uint64_t key, const PacketInfo& syn, const uint8_t* frame,
                 size_t len, uint64_t now_ms)
    : relay_(relay),
      key_(key),
      syn_(syn),
      held_syn_(reinterpret_cast<const char*>(frame), len),
      created_ms_(now_ms) {}

TcpConn::~TcpConn() {
  if (pcb_) {
    release_pcb();  // callbacks cleared first: lwIP must not call into a dead object
  }
  if (up_.initialized()) up_.get()->data = nullptr;
  if (sniff_timer_.initialized()) sniff_timer_.get()->data = nullptr;
}

void TcpConn::connect(uv_loop_t* loop, const Endpoint& to) {
  loop_ = loop;
  dial(to);
}

void TcpConn::intercept(uv_loop_t* loop, PolicyHook& policy, const Endpoint& dst) {
  loop_ = loop;
  dst_ = dst;
  gate_ = std::make_unique<StreamGate>(policy, dst.ip, dst.port);
  state_ = State::kSynDelivered;
}

void TcpConn::serve_dns(uv_loop_t* loop, DnsForwarder& dns) {
  loop_ = loop;
  state_ = State::kSynDelivered;
  TcpConn* self = this;  // the session is owned by this connection and dies with it
  dns_session_ = std::make_unique<DnsTcpSession>(dns, [self](std::string framed) {
    auto keep = self->shared_from_this();
    self->to_guest_ += framed;
    // The guest closed its side: our FIN waits for the last answer.
    if (self->guest_eof_ && self->dns_session_->pending() == 0) {
      self->host_eof_ = true;
      self->shutdown_done_ = true;
    }
    self->push_to_guest();
    self->maybe_finish();
  });
}

void TcpConn::dial(const Endpoint& to) {
  connecting_ = true;
  up_.init(loop_, this, uv_tcp_init);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(to.port);
  sa.sin_addr.s_addr = htonl(to.ip);
  auto req = std::make_unique<WeakReq<uv_connect_t>>();
  req->conn = weak_from_this();
  req->req.data = req.get();
  int rc = uv_tcp_connect(
      &req->req, up_.get(), reinterpret_cast<const sockaddr*>(&sa),
      [](uv_connect_t* r, int status) {
        std::unique_ptr<WeakReq<uv_connect_t>> owned(static_cast<WeakReq<uv_connect_t>*>(r->data));
        if (auto c = owned->conn.lock()) c->on_connected(status);
      });
  if (rc != 0) {
    log::debug("net: connect " + ipv4_text(to.ip) + ": " + uv::error_text(rc));
    // Report asynchronously so the caller finishes registering this connection first.
    std::weak_ptr<TcpConn> weak = weak_from_this();
    uv::defer(loop_, [weak, rc] {
      if (auto c = weak.lock()) c->on_connected(rc);
    });
    return;
  }
  req.release();  // libuv owns it until the callback
}

void TcpConn::on_connected(int status) {
  auto self = shared_from_this();
  if (!connecting_ || state_ == State::kDone) return;
  connecting_ = false;
  if (status != 0) {
    log::debug("net: upstream connect for guest port " + std::to_string(syn_.sport) + " -> " +
               ipv4_text(syn_.dst) + ":" + std::to_string(syn_.dport) +
               " failed: " + uv::error_text(status));
    if (gate_) return abort();  // the guest's handshake is done: reset it
    relay_.send_rst(syn_);
    state_ = State::kDone;
    up_.close();
    return relay_.remove(key_);
  }
  up_open_ = true;
  uv_tcp_nodelay(up_.get(), 1);
  if (gate_) {
    if (!pending_up_.empty()) write_up(std::move(pending_up_), pending_credit_);
    pending_up_.clear();
    pending_credit_ = 0;
    if (shutdown_pending_) shutdown_up();
    start_host_reads();
    return;
  }
  if (!relay_.ensure_listener(syn_.dport)) {
    relay_.send_rst(syn_);
    state_ = State::kDone;
    reset_upstream();
    return relay_.remove(key_);
  }
  state_ = State::kSynDelivered;
  std::string syn = std::move(held_syn_);
  held_syn_.clear();
  relay_.stack_.input(reinterpret_cast<const uint8_t*>(syn.data()), syn.size(), syn_.dst);
}

void TcpConn::attach(struct tcp_pcb* pcb) {
  pcb_ = pcb;
  state_ = State::kEstablished;
  tcp_arg(pcb, this);
  tcp_recv(pcb, recv_cb);
  tcp_sent(pcb, sent_cb);
  tcp_err(pcb, err_cb);
  tcp_nagle_disable(pcb);
  if (gate_) {
    // Server-speaks-first protocols send nothing: after a short wait they count as raw TCP.
    sniff_timer_.init(loop_, this, uv_timer_init);
    uv_timer_start(
        sniff_timer_.get(),
        [](uv_timer_t* t) {
          if (auto* self = static_cast<TcpConn*>(t->data)) self->on_sniff_timeout();
        },
        kSniffTimeoutMs, 0);
    return;
  }
  start_host_reads();
}

void TcpConn::on_sniff_timeout() {
  auto self = shared_from_this();
  if (!gate_ || !gate_->deciding() || !pcb_) return;
  if (!execute(gate_->sniff_timeout(), 0)) abort();
}

void TcpConn::credit_guest(size_t bytes) {
  while (pcb_ && bytes > 0) {
    u16_t n = static_cast<u16_t>(std::min<size_t>(bytes, 0xffff));
    tcp_recved(pcb_, n);
    bytes -= n;
  }
}

bool TcpConn::execute(StreamAction a, size_t credit) {
  if (a.reset) return false;
  if (!gate_->deciding() && sniff_timer_.initialized()) uv_timer_stop(sniff_timer_.get());
  if (a.dial) dial(dst_);
  bool upstream_in_use = (up_open_ || connecting_) && (forwarded_any_ || !a.forward.empty());
  if (!a.forward.empty()) {
    forwarded_any_ = true;
    if (up_open_) {
      write_up(std::move(a.forward), credit);
    } else {
      pending_up_ += a.forward;
      pending_credit_ += credit;
    }
    credit = 0;
  }
  credit_guest(credit);  // bytes kept by the gate (bounded) or dropped
  if (a.close_with && upstream_in_use) {
    // Earlier requests on this connection were allowed: their responses come first, then
    // ours. Nothing more goes upstream; its EOF releases the reply.
    deferred_reply_ = std::move(*a.close_with);
    if (connecting_) {
      shutdown_pending_ = true;
    } else {
      shutdown_up();
    }
    return true;
  }
  if (a.close_with) {
    // Answer the guest ourselves (403/400) and close: nothing more goes upstream.
    if (up_.initialized()) reset_upstream();
    connecting_ = false;
    pending_up_.clear();
    credit_guest(pending_credit_);
    pending_credit_ = 0;
    shutdown_done_ = true;
    to_guest_ += *a.close_with;
    host_eof_ = true;
    push_to_guest();
  }
  return true;
}

void TcpConn::write_up(std::string data, size_t credit) {
  struct CopyWrite {
    uv_write_t req;
    std::string data;
    size_t credit = 0;
    std::weak_ptr<TcpConn> conn;
  };
  auto w = std::make_unique<CopyWrite>();
  w->data = std::move(data);
  w->credit = credit;
  w->conn = weak_from_this();
  w->req.data = w.get();
  uv_buf_t b = uv_buf_init(w->data.data(), w->data.size());
  int rc = uv_write(&w->req, up_.stream(), &b, 1, [](uv_write_t* r, int status) {
    std::unique_ptr<CopyWrite> owned(static_cast<CopyWrite*>(r->data));
    auto c = owned->conn.lock();
    if (!c) return;
    c->writes_in_flight_--;
    if (status != 0) return c->abort();
    c->credit_guest(owned->credit);
  });
  if (rc != 0) {
    std::weak_ptr<TcpConn> weak = weak_from_this();
    uv::defer(loop_, [weak] {
      if (auto c = weak.lock()) c->abort();
    });
    return;
  }
  writes_in_flight_++;
  w.release();
}

void TcpConn::shutdown_up() {
  if (shutdown_issued_) return;
  shutdown_issued_ = true;
  auto req = std::make_unique<WeakReq<uv_shutdown_t>>();
  req->conn = weak_from_this();
  req->req.data = req.get();
  int rc = uv_shutdown(&req->req, up_.stream(), [](uv_shutdown_t* r, int) {
    std::unique_ptr<WeakReq<uv_shutdown_t>> owned(static_cast<WeakReq<uv_shutdown_t>*>(r->data));
    if (auto c = owned->conn.lock()) {
      c->shutdown_done_ = true;
      c->maybe_finish();
    }
  });
  if (rc == 0) {
    req.release();
  } else {
    shutdown_done_ = true;  // socket already unusable; nothing more to flush
    maybe_finish();
  }
}

void TcpConn::start_host_reads() {
  if (reading_ || host_eof_ || !up_open_) return;
  reading_ = true;
  uv_read_start(
      up_.stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<TcpConn*>(h->data);
        size_t room = 0;
        if (self && self->pcb_) room = std::min<size_t>(self->pcb_->snd_buf, kMaxHostRead);
        // A zero-length buffer makes libuv report UV_ENOBUFS: reading pauses.
        *buf = uv_buf_init(g_read_buf, static_cast<unsigned>(room));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        if (auto* self = static_cast<TcpConn*>(s->data)) self->on_host_read(nread, buf);
      });
}

void TcpConn::on_host_read(ssize_t nread, const uv_buf_t* buf) {
  auto self = shared_from_this();
  if (nread == 0) return;
  if (nread == UV_ENOBUFS) {
    uv_read_stop(up_.stream());
    reading_ = false;
    return;
  }
  if (nread < 0) {
    uv_read_stop(up_.stream());
    reading_ = false;
    if (nread != UV_EOF) {
      log::debug("net: upstream read: " + uv::error_text(nread));
      return abort();
    }
    host_eof_ = true;
    if (deferred_reply_) {
      to_guest_ += *deferred_reply_;
      deferred_reply_.reset();
    }
    push_to_guest();
    return maybe_finish();
  }
  to_guest_.append(buf->base, static_cast<size_t>(nread));
  push_to_guest();
}

void TcpConn::push_to_guest() {
  if (!pcb_) return;
  size_t off = 0;
  while (off < to_guest_.size()) {
    size_t n = std::min<size_t>({to_guest_.size() - off, 0xffff, pcb_->snd_buf});
    if (n == 0) break;
    if (tcp_write(pcb_, to_guest_.data() + off, static_cast<u16_t>(n), TCP_WRITE_FLAG_COPY) !=
        ERR_OK)
      break;  // queue full: the rest waits for the guest's ACKs (sent_cb)
    off += n;
  }
  to_guest_.erase(0, off);
  if (host_eof_ && to_guest_.empty() && !fin_sent_) {
    fin_sent_ = true;
    tcp_shutdown(pcb_, 0, 1);
  }
  tcp_output(pcb_);
  // Pause host reads while lwIP is nearly full, resume in sent_cb (notes §2 relay rules).
  if (reading_ && (!to_guest_.empty() || pcb_->snd_buf < 4u * pcb_->mss)) {
    uv_read_stop(up_.stream());
    reading_ = false;
  }
}

void TcpConn::on_guest_sent() {
  auto self = shared_from_this();
  push_to_guest();
  if (pcb_ && !reading_ && to_guest_.empty() && pcb_->snd_buf >= TCP_SND_BUF / 4)
    start_host_reads();
}

int8_t TcpConn::on_guest_data(struct pbuf* p) {
  auto self = shared_from_this();
  if (!p) {
    guest_eof_ = true;
    if (fin_sent_ && pcb_) {
      // Both FINs seen: the pcb goes to TIME_WAIT, which lwIP frees without telling us.
      tcp_arg(pcb_, nullptr);
      tcp_recv(pcb_, nullptr);
      tcp_sent(pcb_, nullptr);
      tcp_err(pcb_, nullptr);
      pcb_ = nullptr;
    }
    if (connecting_) {
      shutdown_pending_ = true;  // after the queued bytes reach the upstream
    } else if (dns_session_ && dns_session_->pending() > 0) {
      // Answers still to come: the session closes after the last one.
    } else if (!up_open_ && (dns_session_ || (gate_ && !gate_->finished())) && !shutdown_done_) {
      // Intercepted and never dialled: nothing upstream to tell; close our side too.
      shutdown_done_ = true;
      host_eof_ = true;
      push_to_guest();
      maybe_finish();
    } else if (!up_open_) {
      shutdown_done_ = true;
      maybe_finish();
    } else {
      shutdown_up();
    }
    return ERR_OK;
  }
  if (dns_session_) {
    size_t len = p->tot_len;
    std::string data = take_pbuf(p);
    credit_guest(len);
    if (!dns_session_->feed(data)) {
      abort();
      return ERR_ABRT;
    }
    return ERR_OK;
  }
  if (gate_) {
    size_t len = p->tot_len;
    std::string data = take_pbuf(p);
    if (!execute(gate_->feed(data), len)) {
      abort();
      return ERR_ABRT;  // aborted inside lwIP's recv callback
    }
    return ERR_OK;
  }
  if (!up_open_) {
    tcp_recved(pcb_, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
  }
  // Zero-copy: iovecs point into the pbufs; window and pbuf are released when the host
  // socket took the bytes.
  std::vector<uv_buf_t> bufs;
  for (struct pbuf* q = p; q; q = q->next)
    if (q->len) bufs.push_back(uv_buf_init(static_cast<char*>(q->payload), q->len));
  auto w = std::make_unique<GuestBytesWrite>();
  w->p = p;
  w->conn = weak_from_this();
  w->req.data = w.get();
  int rc =
      uv_write(&w->req, up_.stream(), bufs.data(), static_cast<unsigned>(bufs.size()),
               [](uv_write_t* r, int status) {
                 std::unique_ptr<GuestBytesWrite> owned(static_cast<GuestBytesWrite*>(r->data));
                 u16_t len = owned->p->tot_len;
                 pbuf_free(owned->p);
                 auto c = owned->conn.lock();
                 if (!c) return;
                 c->writes_in_flight_--;
                 if (status != 0) return c->abort();
                 if (c->pcb_) tcp_recved(c->pcb_, len);
               });
  if (rc != 0) {
    pbuf_free(p);
    // Abort from inside lwIP's recv callback: tell lwIP with ERR_ABRT.
    if (pcb_) {
      struct tcp_pcb* pcb = pcb_;
      tcp_arg(pcb, nullptr);
      tcp_recv(pcb, nullptr);
      tcp_sent(pcb, nullptr);
      tcp_err(pcb, nullptr);
      pcb_ = nullptr;
      tcp_abort(pcb);
    }
    reset_upstream();
    finish();
    return ERR_ABRT;
  }
  writes_in_flight_++;
  w.release();
  return ERR_OK;
}

void TcpConn::on_guest_error(int8_t err) {
  auto self = shared_from_this();
  pcb_ = nullptr;  // lwIP already freed it
  if (err == ERR_CLSD) {
    // Closed gracefully by lwIP after our FIN was acknowledged.
    guest_eof_ = true;
    return maybe_finish();
  }
  reset_upstream();
  finish();
}

void TcpConn::maybe_finish() {
  if (state_ == State::kDone) return;
  if (!(guest_eof_ && host_eof_ && shutdown_done_ && to_guest_.empty())) return;
  if (pcb_) {
    struct tcp_pcb* pcb = pcb_;
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_err(pcb, nullptr);
    pcb_ = nullptr;
    if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);  // lwIP finishes LAST_ACK/TIME_WAIT itself
  }
  up_.close();
  up_open_ = false;
  finish();
}

void TcpConn::release_pcb() {
  struct tcp_pcb* pcb = pcb_;
  pcb_ = nullptr;
  tcp_arg(pcb, nullptr);
  tcp_recv(pcb, nullptr);
  tcp_sent(pcb, nullptr);
  tcp_err(pcb, nullptr);
  tcp_abort(pcb);  // sends RST to the guest
}

void TcpConn::reset_upstream() {
  if (!up_.initialized()) return;
  // SO_LINGER 0: closing sends RST upstream, as the guest's connection was reset.
  uv_os_fd_t fd;
  if (up_open_ && uv_fileno(up_.handle(), &fd) == 0) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  up_open_ = false;
  up_.close();
}

void TcpConn::abort() {
  auto self = shared_from_this();
  if (pcb_) release_pcb();
  reset_upstream();
  finish();
}

void TcpConn::finish() {
  if (state_ == State::kDone) return;
  state_ = State::kDone;
  relay_.remove(key_);
}

int8_t TcpConn::recv_cb(void* arg, struct tcp_pcb* pcb, struct pbuf* p, int8_t err) {
  auto* self = static_cast<TcpConn*>(arg);
  if (!self) {
    if (p) {
      tcp_recved(pcb, p->tot_len);
      pbuf_free(p);
    }
    return ERR_OK;
  }
  return self->on_guest_data(p);
}

int8_t TcpConn::sent_cb(void* arg, struct tcp_pcb*, uint16_t) {
  if (auto* self = static_cast<TcpConn*>(arg)) self->on_guest_sent();
  return ERR_OK;
}

void TcpConn::err_cb(void* arg, int8_t err) {
  if (auto* self = static_cast<TcpConn*>(arg)) self->on_guest_error(err);
}

}  // namespace matchlock::net
