#include "sandbox/sandbox.h"

#include <csignal>
#include <system_error>

#include "core/log.h"
#include "core/paths.h"
#include "core/remove_tree.h"
#include "net/intercept/intercept_policy.h"
#include "sandbox/boot.h"
#include "sandbox/crash_report.h"
#include "sandbox/exec_environment.h"
#include "sandbox/file_tail.h"
#include "sandbox/sandbox_resources.h"

namespace matchlock::sandbox {

void Sandbox::create(uv_loop_t* loop, SandboxOptions options, CreateCallback done) {
  Boot::start(loop, std::move(options), std::move(done));
}

Sandbox::Sandbox(uv_loop_t* loop, std::string id, SandboxOptions options)
    : loop_(loop),
      id_(std::move(id)),
      options_(std::move(options)),
      res_(std::make_unique<Resources>()) {
  if (options_.hostname.empty()) options_.hostname = id_;
  res_->dir = sandbox_dir(id_);
}

Sandbox::~Sandbox() = default;

const image::ImageConfig& Sandbox::image_config() const {
  return res_->image.config;
}

namespace {

// How long a lost guest channel waits for QEMU's exit to be reported: QEMU's sockets close as it
// dies, a moment before its pidfd says so, and the crash should name the real cause.
constexpr uint64_t kGuestLostGraceMs = 300;
// How long a guest with data disks gets to kill its processes, flush and unmount them.
constexpr uint64_t kDiskFlushMs = 10000;

Error no_interception() {
  return Error(ErrorCode::kUnsupported,
               "allow-list updates unavailable: sandbox was started without network interception");
}

// "sandbox ID: what" as a debug line, built only when debug lines are shown: every close passes
// these milestones.
void debug_milestone(const std::string& id, const char* what) {
  if (log::enabled(log::Level::kDebug)) log::debug("sandbox " + id + ": " + what);
}

}  // namespace

Result<AllowListChange> Sandbox::allow_list_add(const std::vector<std::string>& hosts) {
  if (!res_->policy) return no_interception();
  auto r = res_->policy->allow_list().add(hosts);
  if (!r.ok()) return Error(ErrorCode::kInvalidArgument, r.error().message);
  return AllowListChange{std::move(r->added), std::move(r->allowed_hosts)};
}

Result<AllowListChange> Sandbox::allow_list_remove(const std::vector<std::string>& hosts) {
  if (!res_->policy) return no_interception();
  auto r = res_->policy->allow_list().remove(hosts);
  return AllowListChange{std::move(r.removed), std::move(r.allowed_hosts)};
}

std::vector<std::string> Sandbox::compose_command(const std::vector<std::string>& args) const {
  return compose_docker_command(res_->image.config, options_.entrypoint, options_.cmd, args);
}

std::shared_ptr<ExecHandle> Sandbox::exec(const ExecSpec& spec, ExecEvents events) {
  const auto& image = res_->image.config;
  guest_client::ExecRequest r;
  r.argv = spec.argv;
  std::vector<std::string> placeholders;
  for (const auto& secret : options_.secrets) {
    placeholders.push_back(secret.name + "=" + secret.placeholder);
  }
  r.env = compose_exec_env(image.env, options_.env, spec.extra_env, options_.hostname, spec.tty,
                           placeholders);
  r.cwd = spec.workdir.value_or(options_.workdir.value_or(image.working_dir));
  // With mounts, an image without a WORKDIR starts in the workspace, where the user's files are.
  if (r.cwd.empty() && !options_.vfs.mounts.empty()) r.cwd = options_.vfs.workspace;
  r.user = spec.user.value_or(options_.user.value_or(image.user));
  r.tty = spec.tty;
  r.rows = spec.rows;
  r.cols = spec.cols;
  r.stdin_open = spec.stdin_open;
  r.privileged = options_.privileged;
  if (spec.build_root) {
    r.build_root =
        guest_client::ExecRequest::BuildRoot{spec.build_root->lower, spec.build_root->upper};
  }
  r.builtin = spec.builtin;
  if (!res_->guest || is_shutting_down(lifecycle_)) {
    // A handle on a process that never started, as the guest channel gives for a refused one.
    auto h = std::make_shared<ExecHandle>(std::make_shared<guest_client::ExecHandle>());
    if (events.on_error) events.on_error(Error(ErrorCode::kVm, "sandbox is closed"), -1);
    return h;
  }
  guest_client::ExecEvents ev;
  // Debug lines mark where a command's time goes between the host's milestones (boot.cpp's
  // and stop's below).
  const bool debug = log::enabled(log::Level::kDebug);
  ev.on_started = [debug, id = id_, fn = std::move(events.on_started)](int pid) {
    if (debug)
      log::debug("sandbox " + id + ": command started (guest pid " + std::to_string(pid) + ")");
    if (fn) fn(pid);
  };
  // The guest numbers output streams by fd; callers see OutputStream. Anything but stderr is
  // stdout (the host client already refuses fds a process cannot write).
  auto stream_of = [](guest_protocol::StreamFd fd) {
    return fd == guest_protocol::kStderr ? OutputStream::kStderr : OutputStream::kStdout;
  };
  if (events.on_output) {
    ev.on_output = [stream_of, fn = std::move(events.on_output)](guest_protocol::StreamFd fd,
                                                                 std::string_view bytes,
                                                                 std::function<void()> consumed) {
      fn(stream_of(fd), bytes, std::move(consumed));
    };
  }
  if (events.on_eof) {
    ev.on_eof = [stream_of, fn = std::move(events.on_eof)](guest_protocol::StreamFd fd) {
      fn(stream_of(fd));
    };
  }
  ev.on_exit = [debug, id = id_, fn = std::move(events.on_exit)](int code) {
    if (debug) log::debug("sandbox " + id + ": command exited (" + std::to_string(code) + ")");
    if (fn) fn(code);
  };
  if (events.on_error) {
    ev.on_error = [weak = weak_from_this(), fn = std::move(events.on_error)](const Error& e,
                                                                             int code) {
      auto self = weak.lock();
      if (self && code == -1) return self->report_exec_lost(fn, e);
      fn(e, code);
    };
  }
  return std::make_shared<ExecHandle>(res_->guest->open_exec(r, std::move(ev)));
}

void Sandbox::close(uint64_t graceful_ms, std::function<void(Status)> done) {
  if (lifecycle_ == Lifecycle::kClosed) {
    if (done) done(Status());
    return;
  }
  if (done) close_waiters_.push_back(std::move(done));
  if (!move_to(Lifecycle::kClosing)) return;  // already closing: finish_close serves the waiter
  // Closed while a lost channel's cause was still awaited: no crash to report, just the loss.
  auto early = std::move(execs_lost_early_);
  for (auto& [fn, lost] : early) fn(lost, -1);
  // A crashed sandbox's history ends with why it crashed, not with the clean-up.
  if (res_->state && !crash_error_) {
    warn_if_failed(res_->state->append_lifecycle(id_, "stopping", stop_reason_));
  }
  if (!res_->qemu || !res_->qemu->running()) return finish_close(Status());
  debug_milestone(id_, "stopping the VM");
  // A crashed guest cannot shut down cleanly: stop what is left of it at once.
  stop_vm(crash_error_ ? 0 : graceful_ms);
}

// Graceful if asked and possible (the guest agent, else ACPI through QMP), then QMP quit, then
// SIGKILL; QEMU's exit (on_vm_exit) finishes the close.
void Sandbox::stop_vm(uint64_t graceful_ms) {
  auto& r = *res_;
  r.close_timer = std::make_unique<uv::Timer>(loop_);
  auto hard_stop = [this] {
    // QMP quit ends QEMU in milliseconds; SIGKILL if QMP itself is unresponsive.
    if (res_->qmp && res_->qmp->ready()) res_->qmp->execute("quit", [](Result<std::string>) {});
    res_->close_timer->start(2000, [this] {
      if (res_->qemu) res_->qemu->kill(SIGKILL);
    });
  };
  // What the guest wrote to a data disk may still be in its page cache: a sandbox with disks
  // always stops through the agent, which unmounts them, however short the grace.
  const bool flush_disks = !options_.disks.empty();
  if ((graceful_ms > 0 || flush_disks) && r.guest && r.guest->ready()) {
    r.guest->shutdown(static_cast<uint32_t>(graceful_ms));
    r.close_timer->start(graceful_ms + (flush_disks ? kDiskFlushMs : 1000), hard_stop);
  } else if (graceful_ms > 0 && r.qmp && r.qmp->ready()) {
    r.qmp->execute("system_powerdown", [](Result<std::string>) {});
    r.close_timer->start(graceful_ms, hard_stop);
  } else {
    hard_stop();
  }
}

void Sandbox::on_vm_exit(const vm::ExitInfo& info) {
  if (lifecycle_ == Lifecycle::kClosing) {
    debug_milestone(id_, "QEMU exited");
    return finish_close(Status());
  }
  crash(vm_exit_reason(info, console_tail(100)));
}

void Sandbox::on_guest_lost(const Error& e) {
  if (lifecycle_ != Lifecycle::kRunning) return;  // QEMU going away closes the channel too
  auto& timer = res_->guest_lost_timer;
  if (timer) return;
  timer = std::make_unique<uv::Timer>(loop_);  // owned by this sandbox: `this` outlives it
  timer->start(kGuestLostGraceMs, [this, reason = guest_lost_reason(e.message)] { crash(reason); });
}

void Sandbox::crash(const std::string& reason) {
  if (!move_to(Lifecycle::kCrashed)) return;
  auto keep_alive = shared_from_this();  // callbacks below may drop the owner's reference
  if (res_->guest_lost_timer) res_->guest_lost_timer->stop();
  crash_error_ = Error(ErrorCode::kVm, crash_message(id_, reason));
  log::info(crash_error_->message);  // the owner reports it to its user, once
  if (res_->state) {
    warn_if_failed(res_->state->set_status(id_, "crashed"));
    warn_if_failed(res_->state->append_lifecycle(id_, "crashed", reason));
  }
  // Every running exec ends with this error before anyone starts closing (a close would report
  // them as cancelled instead).
  if (res_->guest) res_->guest->close(*crash_error_);
  auto early = std::move(execs_lost_early_);
  for (auto& held : early) held.first(*crash_error_, -1);
  if (on_terminated_) on_terminated_(*crash_error_);
}

void Sandbox::report_exec_lost(std::function<void(const Error&, int)> on_error, const Error& e) {
  if (lifecycle_ == Lifecycle::kRunning) {
    // The channel went first; crash() follows within kGuestLostGraceMs with the cause.
    execs_lost_early_.emplace_back(std::move(on_error), e);
    return;
  }
  on_error(crash_error_ ? *crash_error_ : e, -1);
}

void Sandbox::on_network_lost(const Error& e) {
  if (lifecycle_ == Lifecycle::kBooting)
    return log::warn("sandbox " + id_ + ": network link closed: " + e.message);
  if (lifecycle_ != Lifecycle::kRunning) return;
  // QEMU holds the NIC's other end, so it closing usually means QEMU is dying: then the crash is
  // the news. Only a link lost while the VM runs on deserves its own warning.
  auto& timer = res_->network_lost_timer;
  if (timer) return;
  timer = std::make_unique<uv::Timer>(loop_);
  timer->start(kGuestLostGraceMs, [this, message = e.message] {
    if (lifecycle_ == Lifecycle::kRunning)
      log::warn("sandbox " + id_ + ": network link closed: " + message);
  });
}

void Sandbox::finish_close(Status st) {
  if (!move_to(Lifecycle::kClosed)) return;
  auto& r = *res_;
  for (auto* timer : {&r.close_timer, &r.guest_lost_timer, &r.network_lost_timer}) {
    if (*timer) (*timer)->stop();
  }
  r.published_ports.reset();  // the listeners go with the sandbox, not with the last reference
  if (r.guest) r.guest->close(Error(ErrorCode::kCancelled, "sandbox closed"));
  r.agent_port_watch.reset();
  r.qmp.reset();
  r.qemu.reset();
  r.console.reset();
  r.qemu_output.reset();
  r.net.reset();
  if (r.files) r.files->close();  // open host files close before the overlay uppers go
  r.files.reset();
  r.vfs_hooks.reset();
  remove_files_and_state();
  debug_milestone(id_, "closed (files and state removed)");
  auto waiters = std::move(close_waiters_);
  for (auto& w : waiters) w(st);
}

void Sandbox::remove_files_and_state() {
  auto& r = *res_;
  std::error_code ec;
  const bool crashed = crash_error_.has_value();
  if (options_.keep_after_close || (crashed && options_.keep_after_crash)) {
    // Keep the record and logs for inspection; the disk goes (it is the bulk). A crashed
    // record keeps saying so.
    std::filesystem::remove(r.upper_disk(), ec);
    remove_tree(r.dir / "vfs", ec);  // overlay changes vanish with the sandbox
    if (r.state && !crashed) {
      warn_if_failed(r.state->set_status(id_, "stopped"));
      warn_if_failed(r.state->append_lifecycle(id_, "stopped", ""));
    }
    return;
  }
  remove_tree(r.dir, ec);
  if (ec) log::warn("remove " + r.dir.string() + ": " + ec.message());
  if (r.state) warn_if_failed(r.state->remove_sandbox(id_));
}

namespace {

// From memory while the log is read (the file stops at its cap, the writer may not); from the
// file once it is closed.
std::string capped_log_tail(const std::unique_ptr<vm::CappedLog>& log,
                            const std::filesystem::path& file, size_t max_lines) {
  if (log) {
    log->read_pending_now();
    return last_lines(log->tail(), max_lines);
  }
  return tail_lines(file, max_lines);
}

}  // namespace

std::string Sandbox::console_tail(size_t max_lines) const {
  return capped_log_tail(res_->console, res_->dir / "console.log", max_lines);
}

std::string Sandbox::qemu_output_tail(size_t max_lines) const {
  return capped_log_tail(res_->qemu_output, res_->dir / "qemu.log", max_lines);
}

bool Sandbox::move_to(Lifecycle next) {
  // A refused move is a no-op by design: e.g. a second finish_close, or QEMU's exit reported
  // after the sandbox already closed.
  if (!can_move(lifecycle_, next)) return false;
  lifecycle_ = next;
  return true;
}

std::shared_ptr<guest_client::PortHandle> Sandbox::open_guest_port(
    const guest_client::PortTarget& target, guest_client::PortEvents events) {
  if (lifecycle_ != Lifecycle::kRunning || !res_->guest) return nullptr;
  return res_->guest->open_port(target, std::move(events));
}

// The opener holds the sandbox weakly: a forwarder that outlives it resets new connections.
Result<std::unique_ptr<PortForwarder>> Sandbox::forward_ports(
    const std::vector<PortForwardRule>& rules) {
  std::weak_ptr<Sandbox> weak = weak_from_this();
  return PortForwarder::start(
      loop_, rules,
      [weak](const guest_client::PortTarget& target,
             guest_client::PortEvents events) -> std::shared_ptr<guest_client::PortHandle> {
        auto self = weak.lock();
        return self ? self->open_guest_port(target, std::move(events)) : nullptr;
      });
}

std::vector<PortForwardBinding> Sandbox::published_ports() const {
  if (!res_->published_ports) return {};
  return res_->published_ports->bindings();
}

}  // namespace matchlock::sandbox
