#include "net/tcp/guest_pcb.h"

#include <algorithm>

#include "lwip/tcp.h"

namespace matchlock::net {

// lwIP's C callbacks; `arg` is the GuestPcb, cleared by detach() before the pcb is let go.
struct GuestPcbCallbacks {
  static err_t recv(void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t) {
    auto* self = static_cast<GuestPcb*>(arg);
    if (!self) {
      // Nobody owns the pcb any more: consume the bytes so the window stays open.
      if (p) {
        tcp_recved(pcb, p->tot_len);
        pbuf_free(p);
      }
      return ERR_OK;
    }
    return self->events_->on_guest_data(p);
  }
  static err_t sent(void* arg, struct tcp_pcb*, u16_t) {
    if (auto* self = static_cast<GuestPcb*>(arg)) self->events_->on_guest_acked();
    return ERR_OK;
  }
  static void err(void* arg, err_t e) {
    auto* self = static_cast<GuestPcb*>(arg);
    if (!self) return;
    self->forget();  // lwIP already freed it
    self->events_->on_guest_error(e);
  }
};

void GuestPcb::attach(struct tcp_pcb* pcb, Events& events) {
  pcb_ = pcb;
  events_ = &events;
  tcp_arg(pcb, this);
  tcp_recv(pcb, GuestPcbCallbacks::recv);
  tcp_sent(pcb, GuestPcbCallbacks::sent);
  tcp_err(pcb, GuestPcbCallbacks::err);
  tcp_nagle_disable(pcb);
}

struct tcp_pcb* GuestPcb::detach() {
  struct tcp_pcb* pcb = pcb_;
  pcb_ = nullptr;
  if (pcb) {
    tcp_arg(pcb, nullptr);
    tcp_recv(pcb, nullptr);
    tcp_sent(pcb, nullptr);
    tcp_err(pcb, nullptr);
  }
  return pcb;
}

void GuestPcb::abort() {
  if (struct tcp_pcb* pcb = detach()) {
    aborted_ = true;
    tcp_abort(pcb);  // sends RST to the guest
  }
}

void GuestPcb::close() {
  if (struct tcp_pcb* pcb = detach()) {
    if (tcp_close(pcb) != ERR_OK) tcp_abort(pcb);
  }
}

void GuestPcb::release_to_lwip() {
  detach();
}

size_t GuestPcb::send_room() const {
  return pcb_ ? pcb_->snd_buf : 0;
}

size_t GuestPcb::mss() const {
  return pcb_ ? pcb_->mss : 0;
}

size_t GuestPcb::write(const char* data, size_t len) {
  size_t off = 0;
  while (pcb_ && off < len) {
    size_t n = std::min<size_t>({len - off, 0xffff, pcb_->snd_buf});
    if (n == 0) break;
    if (tcp_write(pcb_, data + off, static_cast<u16_t>(n), TCP_WRITE_FLAG_COPY) != ERR_OK)
      break;  // queue full: the rest waits for the guest's ACKs
    off += n;
  }
  return off;
}

void GuestPcb::shutdown_send() {
  if (pcb_) tcp_shutdown(pcb_, 0, 1);
}

void GuestPcb::output() {
  if (pcb_) tcp_output(pcb_);
}

void GuestPcb::credit(size_t bytes) {
  while (pcb_ && bytes > 0) {
    u16_t n = static_cast<u16_t>(std::min<size_t>(bytes, 0xffff));
    tcp_recved(pcb_, n);
    bytes -= n;
  }
}

}  // namespace matchlock::net
