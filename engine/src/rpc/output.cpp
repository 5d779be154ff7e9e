#include "rpc/output.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "core/log.h"
#include "core/uv.h"

namespace matchlock::rpc {
namespace {

// Pipes, sockets and ttys: libuv queues writes in order, so lines never interleave.
class StreamOutput : public Output, public std::enable_shared_from_this<StreamOutput> {
 public:
  explicit StreamOutput(uv_loop_t* loop) : loop_(loop) {}

  bool open(int fd, uv_handle_type type) {
    if (type == UV_TTY) {
      if (uv_tty_init(loop_, tty_.get(), fd, 0) != 0) return false;
      tty_.mark_initialized();
      stream_ = tty_.stream();
    } else {
      if (uv_pipe_init(loop_, pipe_.get(), 0) != 0) return false;
      pipe_.mark_initialized();
      if (uv_pipe_open(pipe_.get(), fd) != 0) return false;
      stream_ = pipe_.stream();
    }
    return true;
  }

  void write_line(std::string line, std::function<void(bool)> done) override {
    ++pending_;
    std::weak_ptr<StreamOutput> weak = shared_from_this();
    uv::write(stream_, std::move(line), [weak, done = std::move(done)](int status) {
      if (status != 0 && status != UV_ECANCELED) {
        log::debug("rpc: stdout write failed: " + uv::error_text(status));
      }
      if (done) done(status == 0);
      if (auto self = weak.lock()) self->on_write_done();
    });
  }

  void flush(std::function<void()> done) override {
    if (pending_ == 0) {
      if (done) done();
      return;
    }
    flush_waiters_.push_back(std::move(done));
  }

 private:
  void on_write_done() {
    if (--pending_ > 0) return;
    auto waiters = std::move(flush_waiters_);
    flush_waiters_.clear();
    for (auto& w : waiters) {
      if (w) w();
    }
  }

  uv_loop_t* loop_;
  uv::Handle<uv_pipe_t> pipe_;
  uv::Handle<uv_tty_t> tty_;
  uv_stream_t* stream_ = nullptr;
  size_t pending_ = 0;
  std::vector<std::function<void()>> flush_waiters_;
};

// Regular files (stdout redirected to a file): writes complete quickly, so block.
class BlockingOutput : public Output {
 public:
  explicit BlockingOutput(int fd) : fd_(fd) {}

  void write_line(std::string line, std::function<void(bool)> done) override {
    bool ok = !failed_ && write_all(line);
    if (!ok) failed_ = true;
    if (done) done(ok);
  }

  void flush(std::function<void()> done) override {
    if (done) done();
  }

 private:
  bool write_all(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd_, data.data() + off, data.size() - off);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        ::poll(&p, 1, -1);
      } else {
        return false;
      }
    }
    return true;
  }

  int fd_;
  bool failed_ = false;
};

}  // namespace

std::shared_ptr<Output> open_fd_output(uv_loop_t* loop, int fd) {
  uv_handle_type type = uv_guess_handle(fd);
  if (type == UV_NAMED_PIPE || type == UV_TTY || type == UV_TCP) {
    auto out = std::make_shared<StreamOutput>(loop);
    if (out->open(fd, type)) return out;
    log::debug("rpc: cannot watch stdout with libuv, using blocking writes");
  }
  return std::make_shared<BlockingOutput>(fd);
}

}  // namespace matchlock::rpc
