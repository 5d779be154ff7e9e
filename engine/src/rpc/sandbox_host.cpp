#include "rpc/sandbox_host.h"

#include <algorithm>
#include <cassert>
#include <utility>

#include "core/append_file.h"
#include "core/log.h"
#include "core/paths.h"

namespace matchlock::rpc {

std::shared_ptr<SandboxHost> SandboxHost::create(uv_loop_t* loop, VmFactory vm_factory) {
  return std::shared_ptr<SandboxHost>(new SandboxHost(loop, std::move(vm_factory)));
}

std::shared_ptr<SandboxHost> SandboxHost::adopt(uv_loop_t* loop, std::shared_ptr<VmPort> vm) {
  auto host = std::shared_ptr<SandboxHost>(new SandboxHost(loop, {}));
  host->move_to(SandboxState::kCreating);
  host->vm_ = std::move(vm);
  host->watch_termination();
  host->watch_events();
  host->move_to(SandboxState::kReady);
  return host;
}

SandboxHost::SandboxHost(uv_loop_t* loop, VmFactory vm_factory)
    : loop_(loop), vm_factory_(std::move(vm_factory)) {}

std::string SandboxHost::id() const {
  return vm_ ? vm_->id() : std::string();
}

void SandboxHost::move_to(SandboxState to) {
  if (!can_move(state_, to)) {
    log::warn("rpc: bug: sandbox state moved from " + std::string(to_string(state_)) + " to " +
              std::string(to_string(to)));
    assert(false && "illegal rpc sandbox state change");
  }
  state_ = to;
}

template <typename Fn>
void SandboxHost::notify(Fn fn) {
  auto observers = observers_;  // an observer may register or go away while being told
  for (auto& weak : observers) {
    if (auto o = weak.lock()) fn(*o);
  }
}

void SandboxHost::add_observer(std::weak_ptr<SandboxObserver> observer) {
  observers_.push_back(std::move(observer));
}

// ---- create ----------------------------------------------------------------------------------

void SandboxHost::create(CreateRequest request, CreateDone done) {
  assert(state_ == SandboxState::kNone && vm_factory_);
  move_to(SandboxState::kCreating);
  create_done_ = std::move(done);
  std::weak_ptr<SandboxHost> weak = shared_from_this();
  bool launch = request.launch_entrypoint;
  vm_factory_(std::move(request.options), [weak, launch](Result<std::shared_ptr<VmPort>> r) {
    if (auto self = weak.lock()) self->on_create_result(launch, std::move(r));
  });
}

void SandboxHost::on_create_result(bool launch, Result<std::shared_ptr<VmPort>> r) {
  if (!r.ok()) {
    move_to(SandboxState::kNone);
    if (auto done = std::move(create_done_)) done(RpcError{kVmFailed, r.error().message});
    if (close_) start_close();  // a close that waited for the create
    return;
  }
  vm_ = std::move(r.value());
  watch_termination();
  watch_events();
  // The owner's client went away while we were booting: nobody wants this VM.
  if (close_ && close_->owner_gone) return finish_create(RpcError{kCancelled, kCancelledMessage});
  if (launch && !close_) return launch_entrypoint();
  finish_create(std::nullopt);
}

// Every session hears every event: each client decides (and bounds) its own delivery.
void SandboxHost::watch_events() {
  std::weak_ptr<SandboxHost> weak = weak_from_this();
  vm_->set_on_event([weak](const sandbox::SandboxEvent& event) {
    if (auto self = weak.lock())
      self->notify([&](SandboxObserver& o) { o.on_sandbox_event(event); });
  });
}

void SandboxHost::watch_termination() {
  std::weak_ptr<SandboxHost> weak = weak_from_this();
  vm_->set_on_terminated([weak](const Error& e) {
    if (auto self = weak.lock()) self->on_vm_crashed(e);
  });
}

void SandboxHost::on_vm_crashed(const Error& e) {
  // The sandbox has already failed its running execs with `e` and recorded the crash.
  if (crash_) return;
  crash_ = e;
  auto keep_alive = shared_from_this();
  if (on_terminated_) on_terminated_(e);  // first: the owner reports the crash, not a "stop"
  close(0, false, {});
}

void SandboxHost::launch_entrypoint() {
  sandbox::ExecSpec spec;
  spec.argv = vm_->entrypoint_command();
  if (spec.argv.empty()) return finish_create(std::nullopt);

  // Settles once: the process failed, exited, or is still running after the window (which opens
  // when the guest has started it). The flag belongs to this launch, so a late event of an
  // earlier entrypoint never settles a later one.
  auto settled = std::make_shared<bool>(false);
  std::weak_ptr<SandboxHost> weak = shared_from_this();
  auto settle = [weak, settled](std::optional<RpcError> error) {
    auto self = weak.lock();
    if (!self || *settled) return;
    *settled = true;
    if (self->entrypoint_timer_) self->entrypoint_timer_->stop();
    self->finish_create(std::move(error));
  };
  sandbox::ExecEvents ev;
  // The entrypoint's output is appended to the VM log (vms/<id>/output.log, as `run -d`'s
  // command's is), where rpc `log` and `matchlock log` read it. Without that file it is
  // discarded (credit returned at once).
  auto log_file = AppendFile::open((sandbox_dir(vm_->id()) / "output.log").string(), "VM log");
  entrypoint_log_ =
      log_file.ok() ? std::make_shared<AppendFile>(std::move(log_file.value())) : nullptr;
  ev.on_output = [log = std::weak_ptr<AppendFile>(entrypoint_log_)](
                     sandbox::OutputStream, std::string_view bytes,
                     std::function<void()> consumed) {
    if (auto file = log.lock()) file->append(bytes);
    consumed();
  };
  ev.on_started = [weak, settle](int) {
    auto self = weak.lock();
    if (!self || !self->entrypoint_timer_) return;
    self->entrypoint_timer_->start(kEntrypointSettleMs, [settle] { settle(std::nullopt); });
  };
  ev.on_exit = [weak, settle](int code) {
    if (auto self = weak.lock()) self->entrypoint_.reset();
    if (code != 0) {
      settle(RpcError{kVmFailed, "start image entrypoint: exit code " + std::to_string(code)});
    } else {
      settle(std::nullopt);
    }
  };
  ev.on_error = [weak, settle](const Error& e, int) {
    if (auto self = weak.lock()) self->entrypoint_.reset();
    settle(RpcError{kVmFailed, "start image entrypoint: " + e.message});
  };
  entrypoint_timer_ = std::make_unique<uv::Timer>(loop_);
  entrypoint_timer_->start(kEntrypointStartMs, [settle] {
    settle(RpcError{kVmFailed, "start image entrypoint: the guest did not start it within " +
                                   std::to_string(kEntrypointStartMs / 1000) + " s"});
  });
  auto handle = vm_->exec(spec, std::move(ev));
  // A start failure may already have settled (and torn down) the create synchronously.
  if (!*settled) entrypoint_ = std::move(handle);
}

void SandboxHost::finish_create(std::optional<RpcError> error) {
  if (!error) {
    move_to(SandboxState::kReady);
    if (auto done = std::move(create_done_)) done(std::nullopt);
    if (on_ready_ && state_ == SandboxState::kReady && !close_) on_ready_();
    if (close_) start_close();  // a close that waited for the create
    return;
  }
  // A sandbox that failed to start its entrypoint is torn down, not kept half-working, and the
  // error is answered only once it is gone: a client seeing it finds nothing left over.
  if (entrypoint_) entrypoint_->cancel(0);
  entrypoint_.reset();
  auto vm = std::move(vm_);
  std::weak_ptr<SandboxHost> weak = shared_from_this();
  vm->close(0, [weak, vm, error](Status st) {
    if (!st.ok()) log::warn("rpc: closing failed sandbox: " + st.error().message);
    auto self = weak.lock();
    if (!self) return;
    self->move_to(SandboxState::kNone);
    if (auto done = std::move(self->create_done_)) done(error);
    if (self->close_) self->start_close();
  });
}

// ---- lifetime (set_timeout, run --timeout) ---------------------------------------------------

std::optional<std::chrono::system_clock::time_point> SandboxHost::set_timeout(
    uint64_t seconds, uint64_t graceful_ms) {
  if (lifetime_timer_) lifetime_timer_->stop();
  lifetime_timer_.reset();
  if (seconds == 0 || state_ != SandboxState::kReady) return std::nullopt;
  seconds = std::min(seconds, kMaxTimeoutSeconds);
  const auto deadline = std::chrono::system_clock::now() + std::chrono::seconds(seconds);
  lifetime_timer_ = std::make_unique<uv::Timer>(loop_);
  // The timer belongs to this host: `this` outlives it.
  lifetime_timer_->start(
      seconds * 1000, [this, seconds, graceful_ms] { on_lifetime_expired(seconds, graceful_ms); });
  return deadline;
}

void SandboxHost::on_lifetime_expired(uint64_t seconds, uint64_t graceful_ms) {
  auto keep_alive = shared_from_this();  // the owner may drop its reference when told
  // Recorded first: the owner may start its own close while being told (run does).
  stop_reason_ = "timed out after " + std::to_string(seconds) + " s";
  // A lifetime ends once: the callback goes with it, so one that holds this host (as a
  // caller's `[host]` capture does) cannot keep it alive in a cycle.
  if (auto notify = std::exchange(on_timed_out_, nullptr)) notify(stop_reason_);
  close(graceful_ms, false, {});  // an earlier close's deadline stands
}

// ---- close -----------------------------------------------------------------------------------

void SandboxHost::close(uint64_t graceful_ms, bool owner_gone, std::function<void(Status)> done) {
  if (state_ == SandboxState::kClosed) {
    if (done) done(Status());
    return;
  }
  if (done) close_waiters_.push_back(std::move(done));
  if (close_) {
    close_->owner_gone = close_->owner_gone || owner_gone;
    return;  // already asked for: the first close's deadline stands
  }
  close_ = PendingClose{graceful_ms, owner_gone};
  start_close();  // while creating, the end of the create starts it
}

void SandboxHost::start_close() {
  if (!can_move(state_, SandboxState::kClosing)) return;
  move_to(SandboxState::kClosing);
  notify([](SandboxObserver& o) { o.on_sandbox_closing(); });
  if (entrypoint_) entrypoint_->cancel(kCancelGraceMs);
  lifetime_timer_.reset();
  std::weak_ptr<SandboxHost> weak = shared_from_this();
  auto on_closed = [weak](Status st) {
    if (auto self = weak.lock()) self->on_closed(std::move(st));
  };
  if (!vm_) return on_closed(Status());
  if (!stop_reason_.empty()) vm_->set_stop_reason(stop_reason_);
  vm_->close(close_ ? close_->graceful_ms : 0, on_closed);
}

void SandboxHost::on_closed(Status st) {
  if (state_ == SandboxState::kClosed) return;
  move_to(SandboxState::kClosed);
  entrypoint_.reset();
  entrypoint_timer_.reset();
  auto waiters = std::move(close_waiters_);
  close_waiters_.clear();
  for (auto& w : waiters) w(st);
  notify([](SandboxObserver& o) { o.on_sandbox_closed(); });
}

}  // namespace matchlock::rpc
