#include "sandbox/port_forward_relay.h"

#include <sys/socket.h>

#include <string>

namespace matchlock::sandbox {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

struct ShutdownRequest {
  uv_shutdown_t req{};
  std::weak_ptr<PortForwardRelay> owner;
  std::function<void(PortForwardRelay&, int)> done;
};

}  // namespace

PortForwardRelay::PortForwardRelay(uv_loop_t* loop) {
  client_.init(loop, this, uv_tcp_init);
}

void PortForwardRelay::start(const GuestPortOpener& open, const guest_client::PortTarget& target,
                             std::function<void()> on_done) {
  on_done_ = std::move(on_done);
  uv_tcp_nodelay(client_.get(), 1);
  std::weak_ptr<PortForwardRelay> weak = weak_from_this();
  guest_client::PortEvents events;
  events.on_data = [weak](std::string_view bytes, std::function<void()> consumed) {
    if (auto self = weak.lock()) self->on_guest_data(bytes, std::move(consumed));
  };
  events.on_eof = [weak] {
    if (auto self = weak.lock()) self->on_guest_eof();
  };
  events.on_closed = [weak](Status status) {
    if (auto self = weak.lock()) self->on_guest_closed(status);
  };
  port_ = open ? open(target, std::move(events)) : nullptr;
  if (done_) return;  // the stream failed while opening (e.g. the channel is closed)
  if (!port_ || port_->finished()) return finish(true);
  port_->set_on_write_drained([weak] {
    if (auto self = weak.lock()) self->resume_client_reads();
  });
  // Bytes may go out before the guest confirms the connect: credit bounds them.
  resume_client_reads();
}

void PortForwardRelay::resume_client_reads() {
  if (done_ || reading_ || client_eof_) return;
  reading_ = true;
  uv_read_start(
      client_.stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* self = static_cast<PortForwardRelay*>(h->data);
        if (!self) {
          *b = uv_buf_init(nullptr, 0);
          return;
        }
        if (!self->read_buf_) self->read_buf_ = std::make_unique_for_overwrite<char[]>(kReadChunk);
        *b = uv_buf_init(self->read_buf_.get(), kReadChunk);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        if (auto* self = static_cast<PortForwardRelay*>(s->data)) {
          auto keep = self->shared_from_this();  // finish() may drop the owner's reference
          self->on_client_read(n, b);
        }
      });
}

void PortForwardRelay::on_client_read(ssize_t n, const uv_buf_t* buf) {
  if (done_ || n == 0) return;
  if (n == UV_EOF) {
    client_eof_ = true;
    reading_ = false;
    uv_read_stop(client_.stream());
    port_->shutdown_write();
    return;
  }
  if (n < 0) return finish(true);
  port_->write(std::string(buf->base, static_cast<size_t>(n)));
  if (port_->write_backlog() > 0) {
    // The guest's credit ran out: let TCP push back on the client until it drains.
    reading_ = false;
    uv_read_stop(client_.stream());
  }
}

void PortForwardRelay::on_guest_data(std::string_view bytes, std::function<void()> consumed) {
  if (done_) return;
  std::weak_ptr<PortForwardRelay> weak = weak_from_this();
  uv::write(client_.stream(), std::string(bytes),
            [weak, consumed = std::move(consumed)](int status) {
              auto self = weak.lock();
              if (!self || self->done_) return;
              if (status != 0) return self->finish(true);
              consumed();  // only now may the guest send more
            });
}

void PortForwardRelay::on_guest_eof() {
  if (done_ || guest_eof_) return;
  guest_eof_ = true;
  // uv_shutdown completes after every queued write, so no byte is cut off.
  auto request = std::make_unique<ShutdownRequest>();
  request->owner = weak_from_this();
  request->req.data = request.get();
  int rc = uv_shutdown(&request->req, client_.stream(), [](uv_shutdown_t* req, int status) {
    std::unique_ptr<ShutdownRequest> owned(static_cast<ShutdownRequest*>(req->data));
    auto self = owned->owner.lock();
    if (!self || self->done_) return;
    if (status != 0) return self->finish(true);
    self->on_client_write_shut();
  });
  if (rc != 0) return finish(true);
  request.release();  // owned by libuv until the callback
}

void PortForwardRelay::on_client_write_shut() {
  client_write_shut_ = true;
  if (guest_closed_) finish(false);
}

void PortForwardRelay::on_guest_closed(const Status& status) {
  if (done_) return;
  guest_closed_ = true;
  if (!status.ok()) return finish(true);
  // A well-behaved guest sent EOF first; one that did not gets the same treatment.
  if (!guest_eof_) return on_guest_eof();
  if (client_write_shut_) finish(false);
}

void PortForwardRelay::finish(bool reset) {
  if (done_) return;
  auto keep = shared_from_this();
  close_both(reset);
  if (auto done = std::move(on_done_)) done();
}

void PortForwardRelay::abort() {
  on_done_ = nullptr;
  close_both(true);
}

void PortForwardRelay::close_both(bool reset) {
  if (done_) return;
  done_ = true;
  if (port_) port_->close();
  if (reset && client_.initialized()) {
    // SO_LINGER 0: the close sends an RST, so the client learns at once that the relay failed.
    uv_os_fd_t fd;
    if (uv_fileno(client_.handle(), &fd) == 0) {
      linger abort_on_close{1, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    }
  }
  client_.close();
}

}  // namespace matchlock::sandbox
