// RAII around libuv handles and writes: a handle's memory is
// freed only in its close callback, and write completions reach their owner through a weak
// reference, so a callback never runs on a destroyed object.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <utility>

namespace matchlock::uv {

// Owns one libuv handle of type H (uv_pipe_t, uv_timer_t, uv_poll_t, ...).
template <typename H>
class Handle {
 public:
  Handle() : h_(std::make_unique<H>()) {}
  ~Handle() { close(); }
  Handle(Handle&&) noexcept = default;
  Handle& operator=(Handle&& o) noexcept {
    close();
    h_ = std::move(o.h_);
    initialized_ = o.initialized_;
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // Initialises the handle with libuv's init function for H (uv_pipe_init, uv_timer_init, ...),
  // called as init_fn(loop, handle, args...), and points the handle's `data` at `owner` for its
  // callbacks. Returns the libuv status; on failure the handle stays uninitialised (close() then
  // only frees it). A handle initialised before is closed first: one handle, one owner.
  template <typename... Params, typename... Args>
  int init(uv_loop_t* loop, void* owner, int (*init_fn)(uv_loop_t*, H*, Params...),
           Args&&... args) {
    if (initialized()) close();
    if (!h_) h_ = std::make_unique<H>();
    int rc = init_fn(loop, h_.get(), std::forward<Args>(args)...);
    if (rc != 0) return rc;
    initialized_ = true;
    h_->data = owner;
    return 0;
  }

  H* get() { return h_.get(); }
  uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(h_.get()); }
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(h_.get()); }
  bool initialized() const { return h_ && initialized_; }

  // Closes the handle; its memory is released in the close callback.
  void close() {
    if (!h_) return;
    if (!initialized_) {
      h_.reset();
      return;
    }
    initialized_ = false;
    uv_handle_t* raw = reinterpret_cast<uv_handle_t*>(h_.release());
    raw->data = nullptr;
    if (uv_is_closing(raw)) return;  // already closing; libuv calls the earlier close cb
    uv_close(raw, [](uv_handle_t* p) { delete reinterpret_cast<H*>(p); });
  }

 private:
  std::unique_ptr<H> h_;
  bool initialized_ = false;
};

// Writes `data` to `stream`; the bytes live until libuv is done with them. `done` receives the
// libuv status (0 on success, UV_ECANCELED if the stream closed first).
void write(uv_stream_t* stream, std::string data, std::function<void(int status)> done = {});

// A timer owned by its caller: one-shot, or repeating every `repeat_ms` when that is non-zero.
// Destroying the timer stops it; `fn` never runs afterwards.
class Timer {
 public:
  explicit Timer(uv_loop_t* loop);
  void start(uint64_t timeout_ms, std::function<void()> fn, uint64_t repeat_ms = 0);
  void stop();

 private:
  Handle<uv_timer_t> h_;
  std::function<void()> fn_;
};

// One signal watched on the loop: `fn(signo)` runs on the loop thread each time it arrives,
// until the Signal is closed or destroyed. `keeps_loop_alive` false: the watch alone does not
// keep uv_run going (an owner's signals should not outlive its work).
class Signal {
 public:
  Signal(uv_loop_t* loop, int signo, std::function<void(int)> fn, bool keeps_loop_alive = true);
  void close() { h_.close(); }

 private:
  Handle<uv_signal_t> h_;
  std::function<void(int)> fn_;
};

std::string error_text(int uv_status);

// Runs `work` on the libuv thread pool, then `after` on the loop thread.
void queue_work(uv_loop_t* loop, std::function<void()> work, std::function<void()> after);

// Ends a loop whose owners are gone: closes any handle still open, lets the close callbacks
// run, and frees the loop's own memory (uv_loop_close). For process exit paths, so leak
// checkers see nothing; returns false if the loop could not be closed (something still busy).
bool close_loop(uv_loop_t* loop);

// Runs `fn` on a later turn of the loop (e.g. to destroy an object outside its own callback).
void defer(uv_loop_t* loop, std::function<void()> fn);

}  // namespace matchlock::uv
