#include "net/link/guest_link.h"

#include "core/log.h"

namespace matchlock::net {
namespace {

constexpr size_t kReadBufSize = 256 * 1024;
constexpr size_t kMaxQueuedBytes = 16 * 1024 * 1024;

}  // namespace

Result<std::unique_ptr<GuestLink>> GuestLink::open(uv_loop_t* loop, UniqueFd fd, size_t max_frame,
                                                   Events events) {
  std::unique_ptr<GuestLink> link(new GuestLink(max_frame));
  link->events_ = std::move(events);
  link->alive_ = std::make_shared<GuestLink*>(link.get());
  link->read_buf_.resize(kReadBufSize);
  if (int rc = link->pipe_.init(loop, link.get(), uv_pipe_init, 0); rc != 0)
    return Error(ErrorCode::kIo, "net link: " + uv::error_text(rc));
  if (int rc = uv_pipe_open(link->pipe_.get(), fd.get()); rc != 0)
    return Error(ErrorCode::kIo, "net link: " + uv::error_text(rc));
  fd.release();  // the pipe handle owns it now
  link->flush_idle_.init(loop, link.get(), uv_idle_init);
  int rc = uv_read_start(
      link->pipe_.stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<GuestLink*>(h->data);
        *buf = uv_buf_init(self->read_buf_.data(), self->read_buf_.size());
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        if (auto* self = static_cast<GuestLink*>(s->data)) self->on_read(nread, buf);
      });
  if (rc != 0) return Error(ErrorCode::kIo, "net link: " + uv::error_text(rc));
  return link;
}

GuestLink::~GuestLink() {
  *alive_ = nullptr;
  if (pipe_.initialized()) pipe_.get()->data = nullptr;
}

void GuestLink::on_read(ssize_t nread, const uv_buf_t* buf) {
  if (nread == 0) return;
  if (nread < 0) {
    return fail(Error(ErrorCode::kIo, nread == UV_EOF ? "the guest NIC closed"
                                                      : "net link: " + uv::error_text(nread)));
  }
  auto st = reader_.feed(buf->base, static_cast<size_t>(nread), events_.on_frame);
  if (!st.ok()) fail(st.error());
}

void GuestLink::fail(const Error& e) {
  if (closed_) return;
  closed_ = true;
  uv_read_stop(pipe_.stream());
  pending_.clear();
  if (events_.on_closed) events_.on_closed(e);
}

void GuestLink::send(const uint8_t* frame, size_t len, uint16_t tcp_segment_size) {
  if (closed_ || tcp_segment_size != 0) return;
  if (pipe_.get()->write_queue_size + pending_.size() > kMaxQueuedBytes) return;  // drop
  char hdr[4] = {static_cast<char>(len >> 24), static_cast<char>(len >> 16),
                 static_cast<char>(len >> 8), static_cast<char>(len)};
  if (pending_.empty()) {
    uv_idle_start(flush_idle_.get(), [](uv_idle_t* h) {
      if (auto* self = static_cast<GuestLink*>(h->data)) self->flush();
    });
  }
  pending_.append(hdr, 4);
  pending_.append(reinterpret_cast<const char*>(frame), len);
}

void GuestLink::flush() {
  uv_idle_stop(flush_idle_.get());
  if (pending_.empty() || closed_) return;
  std::weak_ptr<GuestLink*> alive = alive_;
  uv::write(pipe_.stream(), std::move(pending_), [alive](int status) {
    if (status == 0 || status == UV_ECANCELED) return;
    auto a = alive.lock();
    if (a && *a) (*a)->fail(Error(ErrorCode::kIo, "net link write: " + uv::error_text(status)));
  });
  pending_.clear();
}

}  // namespace matchlock::net
