#include "rpc/input.h"

#include <memory>
#include <string>

#include "core/log.h"
#include "core/uv.h"

namespace matchlock::rpc {
namespace {

constexpr size_t kReadChunk = 64 * 1024;

// Pipes, sockets, ttys.
class StreamInput : public Input {
 public:
  explicit StreamInput(uv_loop_t* loop) : loop_(loop), buf_(std::make_unique<char[]>(kReadChunk)) {}
  ~StreamInput() override { close(); }

  bool open(int fd, uv_handle_type type) {
    if (type == UV_TTY) {
      if (uv_tty_init(loop_, tty_.get(), fd, 1) != 0) return false;
      tty_.mark_initialized();
      tty_.get()->data = this;
      stream_ = tty_.stream();
    } else {
      if (uv_pipe_init(loop_, pipe_.get(), 0) != 0) return false;
      pipe_.mark_initialized();
      pipe_.get()->data = this;
      if (uv_pipe_open(pipe_.get(), fd) != 0) return false;
      stream_ = pipe_.stream();
    }
    return true;
  }

  void start(DataFn on_data, EofFn on_eof) override {
    on_data_ = std::move(on_data);
    on_eof_ = std::move(on_eof);
    resume();
  }

  void pause() override {
    if (reading_) uv_read_stop(stream_);
    reading_ = false;
  }

  void resume() override {
    if (reading_ || closed_ || !stream_) return;
    reading_ = true;
    uv_read_start(
        stream_,
        [](uv_handle_t* h, size_t, uv_buf_t* b) {
          auto* self = static_cast<StreamInput*>(h->data);
          *b = self ? uv_buf_init(self->buf_.get(), kReadChunk) : uv_buf_init(nullptr, 0);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
          auto* self = static_cast<StreamInput*>(s->data);
          if (!self) return;
          if (n > 0) {
            if (self->on_data_) self->on_data_(std::string_view(b->base, static_cast<size_t>(n)));
          } else if (n < 0) {
            if (n != UV_EOF) log::debug("rpc: stdin read failed: " + uv::error_text(int(n)));
            self->pause();
            if (auto fn = std::move(self->on_eof_)) fn();
          }
        });
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    pause();
    stream_ = nullptr;
    pipe_.close();
    tty_.close();
  }

 private:
  uv_loop_t* loop_;
  uv::Handle<uv_pipe_t> pipe_;
  uv::Handle<uv_tty_t> tty_;
  uv_stream_t* stream_ = nullptr;
  std::unique_ptr<char[]> buf_;
  DataFn on_data_;
  EofFn on_eof_;
  bool reading_ = false;
  bool closed_ = false;
};

// Regular files and /dev/null: chained uv_fs_read requests. Each request keeps the shared state
// alive until libuv hands it back, so closing mid-read is safe.
class FileInput : public Input {
 public:
  FileInput(uv_loop_t* loop, int fd) : state_(std::make_shared<State>()) {
    state_->loop = loop;
    state_->fd = fd;
  }
  ~FileInput() override { close(); }

  void start(DataFn on_data, EofFn on_eof) override {
    state_->on_data = std::move(on_data);
    state_->on_eof = std::move(on_eof);
    resume();
  }
  void pause() override { state_->paused = true; }
  void resume() override {
    state_->paused = false;
    read_next(state_);
  }
  void close() override {
    state_->closed = true;
    state_->on_data = nullptr;
    state_->on_eof = nullptr;
  }

 private:
  struct State {
    uv_loop_t* loop = nullptr;
    int fd = -1;
    bool paused = false;
    bool closed = false;
    bool in_flight = false;
    bool eof = false;
    char buf[kReadChunk];
    DataFn on_data;
    EofFn on_eof;
  };
  struct ReadReq {
    uv_fs_t req{};
    std::shared_ptr<State> state;
  };

  static void read_next(const std::shared_ptr<State>& st) {
    if (st->paused || st->closed || st->in_flight || st->eof) return;
    auto r = std::make_unique<ReadReq>();
    r->state = st;
    r->req.data = r.get();
    uv_buf_t b = uv_buf_init(st->buf, kReadChunk);
    int rc = uv_fs_read(st->loop, &r->req, st->fd, &b, 1, -1, [](uv_fs_t* req) {
      std::unique_ptr<ReadReq> owned(static_cast<ReadReq*>(req->data));
      ssize_t n = req->result;
      uv_fs_req_cleanup(req);
      auto st = owned->state;
      st->in_flight = false;
      if (st->closed) return;
      if (n > 0) {
        if (st->on_data) st->on_data(std::string_view(st->buf, static_cast<size_t>(n)));
        read_next(st);
      } else {
        st->eof = true;
        if (auto fn = std::move(st->on_eof)) fn();
      }
    });
    if (rc != 0) {
      st->eof = true;
      if (auto fn = std::move(st->on_eof)) fn();
      return;
    }
    st->in_flight = true;
    r.release();  // owned by libuv until the callback
  }

  std::shared_ptr<State> state_;
};

}  // namespace

std::shared_ptr<Input> open_fd_input(uv_loop_t* loop, int fd) {
  uv_handle_type type = uv_guess_handle(fd);
  if (type == UV_NAMED_PIPE || type == UV_TTY || type == UV_TCP) {
    auto in = std::make_shared<StreamInput>(loop);
    if (in->open(fd, type)) return in;
  }
  return std::make_shared<FileInput>(loop, fd);
}

}  // namespace matchlock::rpc
