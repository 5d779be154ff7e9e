#include "dockerbuild/build_vm.h"

#include <signal.h>

#include <optional>

#include "core/log.h"
#include "core/uv.h"
#include "sandbox/sandbox.h"

namespace matchlock::dockerbuild {
namespace {

// A graceful guest poweroff is not worth waiting for: the VM holds nothing the build needs.
constexpr uint64_t kCloseGraceMs = 2000;

// Turns the loop until `done`, also past an interrupt (closing must finish either way).
void turn_until(uv_loop_t* loop, const std::function<bool()>& done) {
  while (!done()) {
    if (uv_run(loop, UV_RUN_ONCE) == 0 && !done()) return;  // nothing left that could finish it
  }
}

}  // namespace

struct BuildLoop::Signals {
  std::vector<std::unique_ptr<uv::Signal>> watches;
};

BuildLoop::BuildLoop() : signals_(std::make_unique<Signals>()) {
  uv_loop_init(&loop_);
  for (int signo : {SIGINT, SIGTERM, SIGHUP}) {
    signals_->watches.push_back(std::make_unique<uv::Signal>(
        &loop_, signo,
        [this](int s) {
          if (interrupted_ == 0 && on_interrupt_) on_interrupt_();
          interrupted_ = s;
        },
        false));
  }
}

BuildLoop::~BuildLoop() {
  for (auto& s : signals_->watches) s->close();
  signals_.reset();
  uv::close_loop(&loop_);
}

bool BuildLoop::run_until(const std::function<bool()>& done) {
  turn_until(&loop_, [&] { return done() || interrupted_ != 0; });
  return interrupted_ == 0;
}

void BuildLoop::run_blocking(std::function<void()> work) {
  bool finished = false;
  uv::queue_work(&loop_, std::move(work), [&finished] { finished = true; });
  // The work itself cannot be interrupted; wait for it even after a signal.
  turn_until(&loop_, [&] { return finished; });
}

BuildVm::BuildVm(BuildLoop& loop, std::shared_ptr<sandbox::Sandbox> sandbox)
    : loop_(loop), sandbox_(std::move(sandbox)) {}

BuildVm::~BuildVm() {
  close();
}

Result<std::unique_ptr<BuildVm>> BuildVm::boot(BuildLoop& loop, sandbox::SandboxOptions options) {
  std::optional<Result<std::shared_ptr<sandbox::Sandbox>>> created;
  sandbox::Sandbox::create(loop.get(), std::move(options),
                           [&created](auto r) { created.emplace(std::move(r)); });
  // A boot is not cut short by a signal: Sandbox::create cleans up only once it has finished.
  turn_until(loop.get(), [&] { return created.has_value(); });
  if (!created) return Error(ErrorCode::kInternal, "the build VM's boot never finished");
  if (!created->ok()) return created->error();
  auto vm = std::unique_ptr<BuildVm>(new BuildVm(loop, std::move(**created)));
  if (loop.interrupted()) {
    vm->close();
    return Error(ErrorCode::kCancelled, "interrupted");
  }
  return vm;
}

Result<int> BuildVm::run(const sandbox::ExecSpec& spec, const Process& process) {
  if (!sandbox_) return Error(ErrorCode::kInternal, "the build VM is closed");
  std::optional<int> exit_code;
  std::optional<Error> error;
  bool stdin_done = !spec.stdin_open;
  std::shared_ptr<sandbox::ExecHandle> handle;

  sandbox::ExecEvents events;
  events.on_output = [&](sandbox::OutputStream stream, std::string_view bytes,
                         std::function<void()> consumed) {
    if (process.on_output) process.on_output(stream, bytes);
    if (consumed) consumed();
  };
  events.on_exit = [&](int code) {
    log::debug("build vm: exit " + std::to_string(code));
    exit_code = code;
  };
  events.on_error = [&](const Error& e, int code) {
    error = e;
    exit_code = code;
  };
  // Feeds stdin a chunk at a time, waiting for the guest's credit in between.
  std::function<void()> feed = [&] {
    while (!stdin_done && handle && !handle->finished() && handle->stdin_backlog() == 0) {
      auto chunk = process.next_stdin();
      if (!chunk.ok()) {
        error = chunk.error();
        handle->cancel(0);
        return;
      }
      if (chunk->empty()) {
        stdin_done = true;
        handle->close_stdin();
        return;
      }
      handle->write_stdin(std::move(*chunk));
    }
  };
  log::debug("build vm: exec " + (spec.builtin.empty()
                                      ? (spec.argv.empty() ? std::string("?") : spec.argv[0])
                                      : spec.builtin));
  handle = sandbox_->exec(spec, std::move(events));
  if (spec.stdin_open) {
    handle->set_on_stdin_drained([&] { feed(); });
    feed();
  }
  loop_.set_on_interrupt([&] {
    if (handle) handle->cancel(1000);
  });
  turn_until(loop_.get(), [&] { return exit_code.has_value(); });
  loop_.set_on_interrupt({});
  if (handle) handle->set_on_stdin_drained({});
  if (loop_.interrupted()) return Error(ErrorCode::kCancelled, "interrupted");
  if (error) return *error;
  if (!exit_code) return Error(ErrorCode::kGuest, "the build VM stopped");
  return *exit_code;
}

void BuildVm::close() {
  if (!sandbox_) return;
  bool closed = false;
  sandbox_->close(kCloseGraceMs, [&closed](Status st) {
    if (!st.ok()) log::warn("stopping the build VM: " + st.error().message);
    closed = true;
  });
  turn_until(loop_.get(), [&] { return closed; });
  sandbox_.reset();
}

std::string BuildVm::console_tail() const {
  return sandbox_ ? sandbox_->console_tail() : "";
}

}  // namespace matchlock::dockerbuild
