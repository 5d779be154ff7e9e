// The service splits the guest's byte stream into FUSE messages by each header's len, hands
// them to the FuseServer and writes the replies back as they finish. Replies waiting to be
// written are bounded: past kMaxQueuedReplyBytes it stops reading requests until the guest
// reads replies again, so a guest that never reads cannot make the host buffer without end.
#include "vfs/vfs_service.h"

#include <linux/fuse.h>

#include <cstring>

#include "core/log.h"
#include "core/uv.h"
#include "vfs/fuse_server.h"

namespace matchlock::vfs {
namespace {

constexpr size_t kReadChunk = 256 * 1024;
constexpr size_t kMaxQueuedReplyBytes = 8 * kMaxVfsMessage;

class Service : public VfsService {
 public:
  Service(MountTable mounts, std::string workspace, std::shared_ptr<VfsHooks> hooks,
          std::function<void(const Error&)> on_lost)
      : server_(std::move(mounts), std::move(workspace), std::move(hooks),
                [this](std::string reply) { send(std::move(reply)); }),
        on_lost_(std::move(on_lost)),
        read_buf_(std::make_unique<char[]>(kReadChunk)) {}

  ~Service() override { close(); }

  int start(uv_loop_t* loop, UniqueFd socket) {
    if (int rc = pipe_.init(loop, this, uv_pipe_init, 0); rc != 0) return rc;
    if (int rc = uv_pipe_open(pipe_.get(), socket.get()); rc != 0) return rc;
    socket.release();  // the pipe owns it now
    return start_reading();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    if (pipe_.initialized()) uv_read_stop(pipe_.stream());
    server_.close_handles();
    pipe_.close();
  }

 private:
  int start_reading() {
    reading_ = true;
    return uv_read_start(
        pipe_.stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* self = static_cast<Service*>(h->data);
          *b = self ? uv_buf_init(self->read_buf_.get(), kReadChunk) : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* self = static_cast<Service*>(s->data);
          if (self) self->on_read(n, b);
        });
  }

  void on_read(ssize_t n, const uv_buf_t* buf) {
    if (n == 0 || closed_) return;
    if (n < 0) {
      return fail(n == UV_EOF ? "vfs channel closed"
                              : "vfs channel: " + uv::error_text(static_cast<int>(n)));
    }
    pending_.append(buf->base, static_cast<size_t>(n));
    size_t at = 0;
    std::weak_ptr<int> alive = alive_;
    while (!closed_ && pending_.size() - at >= sizeof(uint32_t)) {
      uint32_t len = 0;
      std::memcpy(&len, pending_.data() + at, sizeof(len));  // fuse_in_header.len comes first
      if (len < sizeof(fuse_in_header) || len > kMaxVfsMessage) {
        return fail("vfs channel: the guest sent a FUSE message of " + std::to_string(len) +
                    " bytes");
      }
      if (pending_.size() - at < len) break;
      std::string message = pending_.substr(at, len);
      at += len;
      server_.handle(std::move(message));
      if (alive.expired()) return;  // a reply's failure destroyed us
    }
    if (!closed_) pending_.erase(0, at);
  }

  void send(std::string reply) {
    if (closed_) return;
    queued_ += reply.size();
    size_t size = reply.size();
    std::weak_ptr<int> alive = alive_;
    uv::write(pipe_.stream(), std::move(reply), [this, alive, size](int status) {
      if (alive.expired()) return;
      queued_ -= size;
      if (status < 0 && !closed_) {
        return fail("vfs channel write: " + uv::error_text(status));
      }
      if (!reading_ && !closed_ && queued_ <= kMaxQueuedReplyBytes / 2) start_reading();
    });
    if (alive.expired()) return;  // a synchronous write failure destroyed us
    if (reading_ && queued_ > kMaxQueuedReplyBytes) {
      reading_ = false;
      uv_read_stop(pipe_.stream());
    }
  }

  void fail(const std::string& why) {
    if (closed_) return;
    log::debug(why);  // the owner decides whether it matters (it does not at shutdown)
    close();
    auto cb = std::move(on_lost_);
    if (cb) cb(Error(ErrorCode::kGuest, why));  // may destroy us: nothing after it
  }

  FuseServer server_;
  std::function<void(const Error&)> on_lost_;
  uv::Handle<uv_pipe_t> pipe_;
  std::unique_ptr<char[]> read_buf_;
  std::string pending_;
  size_t queued_ = 0;
  bool reading_ = false;
  bool closed_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace

Result<std::unique_ptr<VfsService>> VfsService::start(uv_loop_t* loop, UniqueFd port_socket,
                                                      MountTable mounts, std::string workspace,
                                                      std::shared_ptr<VfsHooks> hooks,
                                                      std::function<void(const Error&)> on_lost) {
  auto s = std::make_unique<Service>(std::move(mounts), std::move(workspace), std::move(hooks),
                                     std::move(on_lost));
  if (int rc = s->start(loop, std::move(port_socket)); rc != 0) {
    return io_error("vfs channel: " + uv::error_text(rc));
  }
  return std::unique_ptr<VfsService>(std::move(s));
}

}  // namespace matchlock::vfs
