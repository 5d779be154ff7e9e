#include "net/nat/upstream_socket.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>

#include "core/log.h"

namespace matchlock::net {
namespace {

using Alive = std::weak_ptr<UpstreamSocket*>;

constexpr size_t kMaxHostRead = 256 * 1024;
// One buffer serves every socket: libuv calls alloc then read synchronously, and the reader
// copies the bytes out (into lwIP) before the next read.
char g_read_buf[kMaxHostRead];

// libuv requests plus what they need until their callback: the socket's liveness, the bytes.
struct PendingConnect {
  uv_connect_t req;
  Alive alive;
};

struct PendingShutdown {
  uv_shutdown_t req;
  Alive alive;
  std::function<void()> done;
};

}  // namespace

// Writes gathered in one turn of the loop, then one libuv request: the bytes stay alive until
// libuv is done with them, and each writer hears the request's status, in order.
struct UpstreamSocket::Batch {
  uv_write_t req{};
  std::vector<GuestBytes> parts;
  std::vector<Status> dones;
  Alive alive;
};

UpstreamSocket::UpstreamSocket(uv_loop_t* loop, const Endpoint& to)
    : loop_(loop), to_(to), alive_(std::make_shared<UpstreamSocket*>(this)) {}

UpstreamSocket::~UpstreamSocket() {
  // The bytes go out as they would have without batching; nobody hears the outcome (the
  // liveness token dies with us), and the handle closes after.
  flush_writes();
}

std::unique_ptr<UpstreamSocket> UpstreamSocket::dial(uv_loop_t* loop, const Endpoint& to) {
  std::unique_ptr<UpstreamSocket> s(new UpstreamSocket(loop, to));
  s->h_.init(loop, s.get(), uv_tcp_init);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(to.port);
  sa.sin_addr.s_addr = htonl(to.ip);
  using Connect = PendingConnect;
  auto req = std::make_unique<Connect>();
  req->alive = s->alive_;
  req->req.data = req.get();
  int rc = uv_tcp_connect(&req->req, s->h_.get(), reinterpret_cast<const sockaddr*>(&sa),
                          [](uv_connect_t* r, int status) {
                            std::unique_ptr<Connect> owned(static_cast<Connect*>(r->data));
                            if (auto a = owned->alive.lock()) (*a)->connected(status);
                          });
  if (rc != 0) {
    log::debug("net: connect " + ipv4_text(to.ip) + ": " + uv::error_text(rc));
    // Reported later, so the caller finishes registering the connection first.
    Alive alive = s->alive_;
    uv::defer(loop, [alive, rc] {
      if (auto a = alive.lock()) (*a)->connected(rc);
    });
    return s;
  }
  req.release();  // libuv owns it until the callback
  return s;
}

void UpstreamSocket::connected(int status) {
  if (status == 0 && h_.initialized()) {
    open_ = true;
    uv_tcp_nodelay(h_.get(), 1);
  }
  // The handler may destroy this socket: nothing here touches it afterwards.
  Status fn = std::move(on_connected_);
  on_connected_ = nullptr;
  if (fn) fn(status);
}

int UpstreamSocket::write(GuestBytes bytes, Status done) {
  if (!h_.initialized()) return UV_EBADF;
  if (!batch_) {
    if (!flush_check_.initialized() && flush_check_.init(loop_, this, uv_check_init) != 0) {
      batch_ = std::make_unique<Batch>();  // no check handle: write through at once
      batch_->parts.push_back(std::move(bytes));
      batch_->dones.push_back(std::move(done));
      flush_writes();
      return 0;
    }
    batch_ = std::make_unique<Batch>();
    uv_check_start(flush_check_.get(), [](uv_check_t* h) {
      if (auto* self = static_cast<UpstreamSocket*>(h->data)) self->flush_writes();
    });
  }
  batch_->parts.push_back(std::move(bytes));
  batch_->dones.push_back(std::move(done));
  return 0;
}

void UpstreamSocket::flush_writes() {
  if (flush_check_.initialized()) uv_check_stop(flush_check_.get());
  if (!batch_) return;
  std::unique_ptr<Batch> b = std::move(batch_);
  if (!h_.initialized()) return;  // closed meanwhile: nothing to hear (as with the token gone)
  b->alive = alive_;
  b->req.data = b.get();
  std::vector<uv_buf_t> bufs;
  for (GuestBytes& part : b->parts)
    for (const uv_buf_t& buf : part.buffers()) bufs.push_back(buf);
  if (bufs.empty()) bufs.push_back(uv_buf_init(nullptr, 0));  // libuv wants one buffer at least
  int rc = uv_write(&b->req, h_.stream(), bufs.data(), static_cast<unsigned>(bufs.size()),
                    [](uv_write_t* r, int status) {
                      std::unique_ptr<Batch> owned(static_cast<Batch*>(r->data));
                      owned->parts.clear();  // the bytes (and their pbufs) go first
                      // A writer's handler may destroy this socket: stop hearing then.
                      for (Status& fn : owned->dones)
                        if (owned->alive.lock() && fn) fn(status);
                    });
  if (rc == 0) {
    b.release();  // libuv owns it until the callback
    return;
  }
  // Reported as the writes' status on a later turn, as a failed libuv write would be.
  std::shared_ptr<Batch> failed(std::move(b));
  uv::defer(loop_, [failed, rc] {
    failed->parts.clear();
    for (Status& fn : failed->dones)
      if (failed->alive.lock() && fn) fn(rc);
  });
}

int UpstreamSocket::shutdown(std::function<void()> done) {
  if (!h_.initialized()) return UV_EBADF;
  flush_writes();
  using Shutdown = PendingShutdown;
  auto req = std::make_unique<Shutdown>();
  req->alive = alive_;
  req->done = std::move(done);
  req->req.data = req.get();
  int rc = uv_shutdown(&req->req, h_.stream(), [](uv_shutdown_t* r, int) {
    std::unique_ptr<Shutdown> owned(static_cast<Shutdown*>(r->data));
    if (owned->alive.lock() && owned->done) owned->done();
  });
  if (rc == 0) req.release();
  return rc;
}

void UpstreamSocket::start_reads(Room room, Read read) {
  if (!h_.initialized()) return;
  room_ = std::move(room);
  read_ = std::move(read);
  uv_read_start(
      h_.stream(),
      [](uv_handle_t* h, size_t, uv_buf_t* buf) {
        auto* self = static_cast<UpstreamSocket*>(h->data);
        size_t room = self && self->room_ ? std::min(self->room_(), kMaxHostRead) : 0;
        // A zero-length buffer makes libuv report UV_ENOBUFS: reading pauses.
        *buf = uv_buf_init(g_read_buf, static_cast<unsigned>(room));
      },
      [](uv_stream_t* s, ssize_t nread, const uv_buf_t* buf) {
        auto* self = static_cast<UpstreamSocket*>(s->data);
        if (self && self->read_) self->read_(nread, buf);
      });
}

void UpstreamSocket::stop_reads() {
  if (h_.initialized()) uv_read_stop(h_.stream());
}

void UpstreamSocket::close() {
  flush_writes();
  flush_check_.close();
  open_ = false;
  h_.close();
}

void UpstreamSocket::reset() {
  flush_writes();
  uv_os_fd_t fd;
  if (open_ && h_.initialized() && uv_fileno(h_.handle(), &fd) == 0) {
    linger l{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  close();
}

}  // namespace matchlock::net
