#include "core/fd_stream.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "core/log.h"

namespace matchlock {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

// Opens `fd` as a libuv stream in `tty` or `pipe` (`tty_readable` is libuv's flag for which
// side of a terminal this is). Null when libuv cannot watch the fd: the caller falls back to
// the thread pool or blocking writes.
uv_stream_t* open_stream(uv_loop_t* loop, void* owner, int fd, uv_handle_type kind,
                         int tty_readable, uv::Handle<uv_tty_t>& tty, uv::Handle<uv_pipe_t>& pipe) {
  if (kind == UV_TTY) {
    if (tty.init(loop, owner, uv_tty_init, fd, tty_readable) == 0) return tty.stream();
  } else if (kind == UV_NAMED_PIPE || kind == UV_TCP) {
    if (pipe.init(loop, owner, uv_pipe_init, 0) == 0 && uv_pipe_open(pipe.get(), fd) == 0) {
      return pipe.stream();
    }
    pipe.close();
  } else {
    return nullptr;  // a regular file or a device: never a libuv stream
  }
  log::debug("fd " + std::to_string(fd) + ": libuv cannot watch it, falling back to plain I/O");
  return nullptr;
}

}  // namespace

// ---- FdReader --------------------------------------------------------------------------------

struct FdReader::FileState {
  FdReader* reader = nullptr;  // null once the reader is closed or destroyed
  bool in_flight = false;
  char buf[kReadChunk];
};

// One uv_fs_read in flight; it keeps the file state (and its buffer) alive until libuv is done.
struct FdReader::FileRead {
  uv_fs_t req{};
  std::shared_ptr<FileState> state;
};

FdReader::FdReader(uv_loop_t* loop, int fd) : loop_(loop), fd_(fd), kind_(uv_guess_handle(fd)) {
  stream_ = open_stream(loop, this, fd, kind_, 1, tty_, pipe_);
  if (stream_) {
    buf_ = std::make_unique_for_overwrite<char[]>(kReadChunk);
  } else {
    file_ = std::make_shared<FileState>();
    file_->reader = this;
  }
}

FdReader::~FdReader() {
  close();
}

void FdReader::start(DataFn on_data, EndFn on_end) {
  on_data_ = std::move(on_data);
  on_end_ = std::move(on_end);
  resume();
}

void FdReader::pause() {
  paused_ = true;
  if (stream_) uv_read_stop(stream_);
}

void FdReader::resume() {
  if (!paused_ || ended_ || closed_) return;
  paused_ = false;
  if (stream_) return start_stream_reads();
  read_file_chunk();
}

void FdReader::close() {
  if (closed_) return;
  restore_mode();
  pause();
  closed_ = true;
  stream_ = nullptr;
  pipe_.close();
  tty_.close();
  if (file_) file_->reader = nullptr;
  on_data_ = nullptr;
  on_end_ = nullptr;
}

void FdReader::end() {
  ended_ = true;
  pause();
  if (auto fn = std::move(on_end_)) fn();
}

void FdReader::start_stream_reads() {
  uv_read_start(
      stream_,
      [](uv_handle_t* h, size_t, uv_buf_t* b) {
        auto* self = static_cast<FdReader*>(h->data);
        *b = self ? uv_buf_init(self->buf_.get(), kReadChunk) : uv_buf_init(nullptr, 0);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
        auto* self = static_cast<FdReader*>(s->data);
        if (!self) return;
        if (n > 0) {
          if (self->on_data_) self->on_data_(std::string_view(b->base, static_cast<size_t>(n)));
        } else if (n < 0) {
          if (n != UV_EOF) {
            log::debug("fd " + std::to_string(self->fd_) +
                       ": read failed: " + uv::error_text(static_cast<int>(n)));
          }
          self->end();
        }
      });
}

void FdReader::read_file_chunk() {
  if (paused_ || ended_ || closed_ || file_->in_flight) return;
  auto read = std::make_unique<FileRead>();
  read->state = file_;
  read->req.data = read.get();
  uv_buf_t b = uv_buf_init(file_->buf, kReadChunk);
  int rc = uv_fs_read(loop_, &read->req, fd_, &b, 1, -1, [](uv_fs_t* req) {
    std::unique_ptr<FileRead> owned(static_cast<FileRead*>(req->data));
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    FileState* state = owned->state.get();
    state->in_flight = false;
    FdReader* self = state->reader;
    if (!self) return;
    if (n <= 0) return self->end();
    if (self->on_data_) self->on_data_(std::string_view(state->buf, static_cast<size_t>(n)));
    // on_data may have closed or destroyed the reader.
    if (state->reader) state->reader->read_file_chunk();
  });
  if (rc != 0) return end();
  file_->in_flight = true;
  read.release();  // owned by libuv until the callback
}

void FdReader::set_raw_mode() {
  if (!tty_.initialized()) return;
  if (uv_tty_set_mode(tty_.get(), UV_TTY_MODE_RAW) == 0) raw_ = true;
}

void FdReader::restore_mode() {
  if (!raw_) return;
  raw_ = false;
  uv_tty_reset_mode();
}

// ---- FdWriter --------------------------------------------------------------------------------

FdWriter::FdWriter(uv_loop_t* loop, int fd) : fd_(fd), kind_(uv_guess_handle(fd)) {
  stream_ = open_stream(loop, this, fd, kind_, 0, tty_, pipe_);
}

FdWriter::~FdWriter() = default;

void FdWriter::write(std::string bytes, DoneFn done) {
  if (!stream_) {
    // Regular files and devices: a blocking write is short and keeps ordering simple.
    int status = write_blocking(bytes);
    if (done) done(status);
    return;
  }
  ++in_flight_;
  std::weak_ptr<bool> alive = alive_;
  uv::write(stream_, std::move(bytes), [this, alive, done = std::move(done)](int status) {
    if (done) done(status);
    if (!alive.expired()) on_stream_write_done();  // `done` may have destroyed the writer
  });
}

void FdWriter::flush(std::function<void()> fn) {
  if (in_flight_ == 0) {
    if (fn) fn();
    return;
  }
  flush_waiters_.push_back(std::move(fn));
}

void FdWriter::on_stream_write_done() {
  if (--in_flight_ > 0) return;
  auto waiters = std::move(flush_waiters_);
  flush_waiters_.clear();
  for (auto& w : waiters) {
    if (w) w();
  }
}

int FdWriter::write_blocking(const std::string& bytes) {
  if (blocking_error_ != 0) return blocking_error_;
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::write(fd_, bytes.data() + off, bytes.size() - off);
    if (n > 0) {
      off += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, -1);
    } else {
      blocking_error_ = n < 0 ? -errno : UV_EIO;  // libuv codes are negated errnos
      return blocking_error_;
    }
  }
  return 0;
}

}  // namespace matchlock
