#include "cli/rpc_attach.h"

#include <uv.h>

#include <csignal>
#include <memory>
#include <vector>

#include "cli/commands.h"
#include "cli/control_client.h"
#include "core/fd_stream.h"
#include "core/log.h"
#include "core/uv.h"

namespace matchlock::cli {
namespace {

// Bytes queued towards one side before the other side's reading pauses.
constexpr size_t kMaxQueuedBytes = 1024 * 1024;
constexpr size_t kReadBufferBytes = 64 * 1024;

class AttachRelay : public std::enable_shared_from_this<AttachRelay> {
 public:
  explicit AttachRelay(uv_loop_t* loop) : loop_(loop), in_(loop, 0), out_(loop, 1) {}

  Status start(UniqueFd socket) {
    int rc = sock_.init(loop_, this, uv_pipe_init, 0);
    if (rc == 0) rc = uv_pipe_open(sock_.get(), socket.get());
    if (rc != 0) return io_error("control socket: " + uv::error_text(rc));
    socket.release();  // the pipe handle owns it now
    buf_ = std::make_unique_for_overwrite<char[]>(kReadBufferBytes);
    start_socket_reads();
    std::weak_ptr<AttachRelay> weak = weak_from_this();
    in_.start(
        [weak](std::string_view bytes) {
          if (auto self = weak.lock()) self->to_socket(bytes);
        },
        [weak] {
          if (auto self = weak.lock()) self->detach();
        });
    return {};
  }

  // The client is done: half-close, so the owner ends this client's calls (answering them) and
  // then closes the connection, which ends the relay.
  void detach() {
    if (detached_ || ended_) return;
    detached_ = true;
    in_.close();
    shutdown_ = std::make_unique<uv_shutdown_t>();
    if (uv_shutdown(shutdown_.get(), sock_.stream(), [](uv_shutdown_t*, int) {}) != 0) {
      shutdown_.reset();
      end();
    }
  }

 private:
  void to_socket(std::string_view bytes) {
    to_socket_bytes_ += bytes.size();
    if (to_socket_bytes_ > kMaxQueuedBytes) in_.pause();
    std::weak_ptr<AttachRelay> weak = weak_from_this();
    uv::write(sock_.stream(), std::string(bytes), [weak, n = bytes.size()](int status) {
      auto self = weak.lock();
      if (!self) return;
      self->to_socket_bytes_ -= n;
      if (status != 0) return self->end();
      if (self->to_socket_bytes_ <= kMaxQueuedBytes && !self->detached_) self->in_.resume();
    });
  }

  void start_socket_reads() {
    if (ended_) return;
    uv_read_start(
        sock_.stream(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<AttachRelay*>(h->data);
          *buf = self ? uv_buf_init(self->buf_.get(), kReadBufferBytes) : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* self = static_cast<AttachRelay*>(s->data);
          if (!self || n == 0) return;
          if (n < 0) return self->end();  // the sandbox side closed
          self->to_stdout(std::string(buf->base, static_cast<size_t>(n)));
        });
  }

  void to_stdout(std::string bytes) {
    const size_t n = bytes.size();
    to_stdout_bytes_ += n;
    if (to_stdout_bytes_ > kMaxQueuedBytes) uv_read_stop(sock_.stream());
    std::weak_ptr<AttachRelay> weak = weak_from_this();
    out_.write(std::move(bytes), [weak, n](int status) {
      auto self = weak.lock();
      if (!self) return;
      self->to_stdout_bytes_ -= n;
      if (status != 0) return self->detach();  // nobody reads us: leave the sandbox alone
      if (self->to_stdout_bytes_ <= kMaxQueuedBytes) self->start_socket_reads();
    });
  }

  // The connection is over: write out what came from it, then stop the loop.
  void end() {
    if (ended_) return;
    ended_ = true;
    in_.close();
    sock_.close();
    out_.flush([loop = loop_] { uv_stop(loop); });
  }

  uv_loop_t* loop_;
  FdReader in_;
  FdWriter out_;
  uv::Handle<uv_pipe_t> sock_;
  std::unique_ptr<uv_shutdown_t> shutdown_;
  std::unique_ptr<char[]> buf_;
  size_t to_socket_bytes_ = 0;
  size_t to_stdout_bytes_ = 0;
  bool detached_ = false;
  bool ended_ = false;
};

}  // namespace

int attach_rpc(const std::string& sandbox_id) {
  auto fd = connect_sandbox(sandbox_id);
  if (!fd.ok()) return fail("rpc --attach: " + fd.error().message, 1);
  // A client that closes stdout must not kill us mid-write.
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return fail("cannot create the event loop", 1);
  int code = 0;
  {
    auto relay = std::make_shared<AttachRelay>(&loop);
    if (auto st = relay->start(std::move(fd.value())); !st.ok()) {
      code = fail("rpc --attach: " + st.error().message, 1);
    } else {
      // A signal detaches, as stdin EOF does: the sandbox is not ours to stop.
      std::vector<std::unique_ptr<uv::Signal>> signals;
      for (int signo : {SIGTERM, SIGINT, SIGHUP}) {
        signals.push_back(std::make_unique<uv::Signal>(
            &loop, signo, [&relay](int) { relay->detach(); }, /*keeps_loop_alive=*/false));
      }
      uv_run(&loop, UV_RUN_DEFAULT);
    }
  }
  uv::close_loop(&loop);
  return code;
}

}  // namespace matchlock::cli
