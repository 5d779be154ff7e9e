#include "core/uv.h"

namespace matchlock::uv {
namespace {

struct WriteRequest {
  uv_write_t req{};
  std::string data;
  std::function<void(int)> done;
};

}  // namespace

void write(uv_stream_t* stream, std::string data, std::function<void(int)> done) {
  auto w = std::make_unique<WriteRequest>();
  w->data = std::move(data);
  w->done = std::move(done);
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  WriteRequest* raw = w.get();
  raw->req.data = raw;
  int rc = uv_write(&raw->req, stream, &buf, 1, [](uv_write_t* req, int status) {
    std::unique_ptr<WriteRequest> owned(static_cast<WriteRequest*>(req->data));
    if (owned->done) owned->done(status);
  });
  if (rc != 0) {
    if (w->done) w->done(rc);
    return;
  }
  w.release();  // owned by libuv until the callback above
}

Timer::Timer(uv_loop_t* loop) {
  h_.init(loop, this, uv_timer_init);
}

void Timer::start(uint64_t timeout_ms, std::function<void()> fn, uint64_t repeat_ms) {
  fn_ = std::move(fn);
  h_.get()->data = this;
  uv_timer_start(
      h_.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Timer*>(t->data);
        if (!self) return;
        auto fn = self->fn_;  // fn may destroy the timer's owner
        if (fn) fn();
      },
      timeout_ms, repeat_ms);
}

void Timer::stop() {
  if (h_.initialized()) uv_timer_stop(h_.get());
}

Signal::Signal(uv_loop_t* loop, int signo, std::function<void(int)> fn, bool keeps_loop_alive)
    : fn_(std::move(fn)) {
  h_.init(loop, this, uv_signal_init);
  uv_signal_start(
      h_.get(),
      [](uv_signal_t* s, int signo) {
        auto* self = static_cast<Signal*>(s->data);
        if (!self) return;
        auto fn = self->fn_;  // fn may destroy the Signal's owner
        if (fn) fn(signo);
      },
      signo);
  if (!keeps_loop_alive) uv_unref(h_.handle());
}

bool close_loop(uv_loop_t* loop) {
  for (int round = 0; round < 8; ++round) {
    if (uv_loop_close(loop) == 0) return true;
    uv_walk(
        loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(loop, UV_RUN_NOWAIT);
  }
  return uv_loop_close(loop) == 0;
}

std::string error_text(int uv_status) {
  return uv_strerror(uv_status);
}

namespace {
struct Deferred {
  uv_check_t check{};
  uv_idle_t idle{};  // keeps the loop from blocking in poll until the check runs
  std::function<void()> fn;
  int closed = 0;
};
}  // namespace

void defer(uv_loop_t* loop, std::function<void()> fn) {
  auto d = std::make_unique<Deferred>();
  d->fn = std::move(fn);
  Deferred* raw = d.release();  // owned by the two handles; freed when both have closed
  raw->check.data = raw;
  raw->idle.data = raw;
  uv_check_init(loop, &raw->check);
  uv_idle_init(loop, &raw->idle);
  uv_idle_start(&raw->idle, [](uv_idle_t*) {});
  uv_check_start(&raw->check, [](uv_check_t* c) {
    auto* self = static_cast<Deferred*>(c->data);
    uv_check_stop(&self->check);
    uv_idle_stop(&self->idle);
    auto fn = std::move(self->fn);
    auto on_close = [](uv_handle_t* h) {
      auto* s = static_cast<Deferred*>(h->data);
      if (++s->closed == 2) delete s;
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&self->check), on_close);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->idle), on_close);
    if (fn) fn();
  });
}

}  // namespace matchlock::uv

namespace matchlock::uv {
namespace {
struct Work {
  uv_work_t req{};
  std::function<void()> work;
  std::function<void()> after;
};
}  // namespace

void queue_work(uv_loop_t* loop, std::function<void()> work, std::function<void()> after) {
  auto w = std::make_unique<Work>();
  w->work = std::move(work);
  w->after = std::move(after);
  w->req.data = w.get();
  int rc = uv_queue_work(
      loop, &w->req, [](uv_work_t* r) { static_cast<Work*>(r->data)->work(); },
      [](uv_work_t* r, int) {
        std::unique_ptr<Work> owned(static_cast<Work*>(r->data));
        if (owned->after) owned->after();
      });
  if (rc == 0) w.release();  // owned by libuv until the after-callback
}

}  // namespace matchlock::uv
