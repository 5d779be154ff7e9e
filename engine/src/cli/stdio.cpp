#include "cli/stdio.h"

#include <unistd.h>

#include <cerrno>

namespace matchlock::cli {
namespace {
constexpr size_t kReadChunk = 64 * 1024;
}

OutputStream::OutputStream(uv_loop_t* loop, int fd) : fd_(fd), kind_(uv_guess_handle(fd)) {
  if (kind_ == UV_TTY) {
    if (uv_tty_init(loop, tty_.get(), fd, 0) == 0) {
      tty_.mark_initialized();
      stream_ = tty_.stream();
    }
  } else if (kind_ == UV_NAMED_PIPE) {
    if (uv_pipe_init(loop, pipe_.get(), 0) == 0) {
      pipe_.mark_initialized();
      if (uv_pipe_open(pipe_.get(), fd) == 0) stream_ = pipe_.stream();
    }
  }
}

OutputStream::~OutputStream() {
  *alive_ = false;
}

void OutputStream::write(std::string bytes, std::function<void()> done) {
  if (!stream_) {
    // Regular files and devices: a blocking write is short and keeps ordering simple.
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    if (done) done();
    return;
  }
  ++in_flight_;
  std::weak_ptr<bool> alive = alive_;
  uv::write(stream_, std::move(bytes), [this, alive, done = std::move(done)](int) {
    if (done) done();
    if (alive.expired()) return;
    if (--in_flight_ == 0) {
      auto waiters = std::move(flush_waiters_);
      for (auto& w : waiters) w();
    }
  });
}

void OutputStream::flush(std::function<void()> fn) {
  if (in_flight_ == 0) return fn();
  flush_waiters_.push_back(std::move(fn));
}

InputStream::InputStream(uv_loop_t* loop, int fd)
    : loop_(loop), fd_(fd), kind_(uv_guess_handle(fd)) {
  if (kind_ == UV_TTY) {
    if (uv_tty_init(loop, tty_.get(), fd, 1) == 0) {
      tty_.mark_initialized();
      tty_.get()->data = this;
      stream_ = tty_.stream();
    }
  } else if (kind_ == UV_NAMED_PIPE) {
    if (uv_pipe_init(loop, pipe_.get(), 0) == 0) {
      pipe_.mark_initialized();
      pipe_.get()->data = this;
      if (uv_pipe_open(pipe_.get(), fd) == 0) stream_ = pipe_.stream();
    }
  }
}

InputStream::~InputStream() {
  *alive_ = false;
  restore_mode();
}

void InputStream::start(std::function<void(std::string)> on_data, std::function<void()> on_eof) {
  on_data_ = std::move(on_data);
  on_eof_ = std::move(on_eof);
  resume();
}

void InputStream::pause() {
  paused_ = true;
  if (stream_) uv_read_stop(stream_);
}

void InputStream::resume() {
  if (eof_ || !paused_) return;
  paused_ = false;
  if (!stream_) return read_file_chunk();
  uv_read_start(
      stream_,
      [](uv_handle_t*, size_t, uv_buf_t* b) {
        static thread_local char scratch[kReadChunk];
        *b = uv_buf_init(scratch, kReadChunk);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        auto* self = static_cast<InputStream*>(s->data);
        if (!self) return;
        if (n > 0) {
          if (self->on_data_) self->on_data_(std::string(b->base, static_cast<size_t>(n)));
        } else if (n < 0) {
          uv_read_stop(s);
          self->eof_ = true;
          if (self->on_eof_) self->on_eof_();
        }
      });
}

void InputStream::read_file_chunk() {
  if (file_read_pending_ || paused_ || eof_) return;
  file_read_pending_ = true;
  // Regular files (and /dev/null) are read on the thread pool so the loop never blocks.
  auto buf = std::make_shared<std::string>(kReadChunk, '\0');
  auto got = std::make_shared<ssize_t>(0);
  int fd = fd_;
  std::weak_ptr<bool> alive = alive_;
  uv::queue_work(
      loop_,
      [fd, buf, got] {
        ssize_t n;
        do {
          n = ::read(fd, buf->data(), buf->size());
        } while (n < 0 && errno == EINTR);
        *got = n;
      },
      [this, alive, buf, got] {
        if (alive.expired()) return;
        file_read_pending_ = false;
        if (*got <= 0) {
          eof_ = true;
          if (on_eof_) on_eof_();
          return;
        }
        buf->resize(static_cast<size_t>(*got));
        if (on_data_) on_data_(std::move(*buf));
        if (!alive.expired()) read_file_chunk();
      });
}

void InputStream::set_raw_mode() {
  if (kind_ != UV_TTY || !tty_.initialized()) return;
  if (uv_tty_set_mode(tty_.get(), UV_TTY_MODE_RAW) == 0) raw_ = true;
}

void InputStream::restore_mode() {
  if (!raw_) return;
  raw_ = false;
  uv_tty_reset_mode();
}

}  // namespace matchlock::cli
