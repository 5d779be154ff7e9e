// `matchlock run`: this process becomes the sandbox's owner, runs one command in it with the
// terminal's or pipes' stdio, and exits with the command's exit code. With --rm=false the
// sandbox stays after the command until killed; -d forks a detached owner that does the same.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/pull_progress.h"
#include "cli/run_options.h"
#include "cli/terminal.h"
#include "core/fd_stream.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/printable.h"
#include "core/uv.h"
#include "image/image_store.h"
#include "rpc/control_server.h"
#include "rpc/control_socket.h"
#include "rpc/sandbox_host.h"
#include "rpc/sandbox_vm.h"
#include "sandbox/sandbox.h"

namespace matchlock::cli {
namespace {

// Exit codes of our own (the command's code passes through otherwise), docker-like.
constexpr int kExitEngineError = 125;
constexpr int kExitTimeout = 124;

// How a detached owner tells the waiting `run -d` parent how the boot went: one line on a
// pipe, "ok <id>" or "error <message>".
class ReadyPipe {
 public:
  explicit ReadyPipe(int fd = -1) : fd_(fd) {}
  bool active() const { return fd_.valid(); }
  void report(const std::string& line) {
    if (!fd_) return;
    std::string msg = line + "\n";
    for (size_t off = 0; off < msg.size();) {
      ssize_t n = ::write(fd_.get(), msg.data() + off, msg.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    fd_.reset();
  }

 private:
  UniqueFd fd_;
};

// Tells the run session when the sandbox is stopped by someone else (`matchlock kill`).
class SandboxStopWatch : public rpc::SandboxObserver {
 public:
  explicit SandboxStopWatch(std::function<void()> on_closed) : on_closed_(std::move(on_closed)) {}
  void on_sandbox_closed() override { on_closed_(); }

 private:
  std::function<void()> on_closed_;
};

// One `run`: owns the loop-side objects and the order in which they end. The sandbox sits in
// an rpc SandboxHost so its control socket serves `exec`, `kill` and the rest while it runs.
class RunSession {
 public:
  RunSession(uv_loop_t* loop, RunOptions opts, ReadyPipe ready)
      : loop_(loop),
        opts_(std::move(opts)),
        ready_(std::move(ready)),
        out_(loop, 1),
        err_(loop, 2),
        in_(loop, 0) {}

  void start() {
    install_signal(SIGINT);
    install_signal(SIGTERM);
    install_signal(SIGHUP);
    // Nobody watches a kept or detached sandbox: if it crashes, its record must tell.
    opts_.sandbox.keep_after_crash = opts_.keep_running();
    sandbox::Sandbox::create(loop_, opts_.sandbox, [this](auto r) { on_created(std::move(r)); });
  }

  int exit_code() const { return exit_code_; }

 private:
  void install_signal(int signo) {
    signals_.push_back(std::make_unique<uv::Signal>(loop_, signo, [this](int s) { on_signal(s); }));
  }

  void on_signal(int signo) {
    // Booting: the sandbox cannot be stopped half-made, so the stop waits for the boot to end
    // (on_created then closes it and removes everything); a second signal leaves at once.
    if (!sandbox_ && !done_ && !stop_after_boot_) {
      stop_after_boot_ = signo;
      return;
    }
    // First signal goes to the command (as docker's sig-proxy); a second one stops everything.
    if (exec_ && !exec_->finished() && !signalled_ && !opts_.detach) {
      signalled_ = true;
      exec_->signal(signo);
      return;
    }
    // A sandbox kept after its command: Ctrl-C stops it, and run exits with the command's code.
    finish(command_code_ ? *command_code_ : 128 + signo);
  }

  // -p with host port 0: the user cannot know the port unless we say which one was chosen.
  void report_chosen_ports() {
    const auto& rules = opts_.sandbox.port_forwards;
    const auto bound = sandbox_->published_ports();
    for (size_t i = 0; i < rules.size() && i < bound.size(); ++i) {
      if (rules[i].host_port != 0) continue;
      std::fprintf(stderr, "matchlock: published %s:%u -> guest port %u\n",
                   bound[i].address.c_str(), unsigned(bound[i].host_port),
                   unsigned(bound[i].guest_port));
    }
  }

  void on_created(Result<std::shared_ptr<sandbox::Sandbox>> r) {
    if (!r.ok()) {
      ready_.report("error " + r.error().message);
      fail(r.error().message, kExitEngineError);
      return;
    }
    sandbox_ = r.value();
    if (stop_after_boot_) {
      ready_.report("error interrupted by signal " + std::to_string(stop_after_boot_));
      return finish(128 + stop_after_boot_);
    }
    if (opts_.detach) redirect_diagnostics();
    report_chosen_ports();
    host_ = rpc::SandboxHost::adopt(loop_, rpc::sandbox_vm(sandbox_));
    // A crash: the sandbox's error already says which sandbox stopped and why.
    host_->set_on_terminated([this](const Error& e) { fail(e.message, kExitEngineError); });
    // --timeout, or a control client's set_timeout: the host closes the sandbox, we say so.
    host_->set_on_timed_out([this](const std::string& reason) {
      fail("sandbox " + sandbox_->id() + " " + reason + " and was stopped", kExitTimeout);
    });
    stop_watch_ = std::make_shared<SandboxStopWatch>([this] { on_stopped_elsewhere(); });
    host_->add_observer(stop_watch_);
    auto control =
        rpc::ControlServer::start(loop_, host_, rpc::control_socket_path(sandbox_->id()));
    if (!control.ok()) {
      // Without its socket a kept sandbox could never be reached or stopped: fail instead.
      if (opts_.keep_running()) {
        ready_.report("error " + control.error().message);
        return fail(control.error().message, kExitEngineError);
      }
      log::warn("no control socket: " + control.error().message);
    } else {
      control_ = std::move(control.value());
    }

    // --rm=false without a command: boot, say which sandbox, and serve until killed.
    if (!opts_.detach && !opts_.remove && opts_.command.empty()) {
      std::printf("%s\n", sandbox_->id().c_str());
      std::fflush(stdout);
      return;
    }
    auto argv = sandbox_->compose_command(opts_.command);
    if (argv.empty()) {
      if (opts_.detach) {
        ready_.report("ok " + sandbox_->id());  // nothing to run: just keep the sandbox
        return;
      }
      fail("no command given and the image has no ENTRYPOINT or CMD", kExitEngineError);
      return;
    }
    if (opts_.timeout_seconds > 0) {
      // The host's lifetime (as rpc set_timeout): it closes the sandbox, recording why.
      host_->set_timeout(opts_.timeout_seconds, opts_.graceful_shutdown_ms);
    }
    if (opts_.detach) {
      start_detached(std::move(argv));
      ready_.report("ok " + sandbox_->id());
      return;
    }
    start_exec(std::move(argv));
  }

  // `run -d`: from here on the owner's diagnostics go to vms/<id>/engine.log.
  void redirect_diagnostics() {
    auto path = sandbox_dir(sandbox_->id()) / "engine.log";
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (fd) ::dup2(fd.get(), 2);
  }

  // `run -d`: the command runs in the background of the sandbox, its output appended to
  // vms/<id>/output.log; the sandbox stays when it exits.
  void start_detached(std::vector<std::string> argv) {
    auto path = sandbox_dir(sandbox_->id()) / "output.log";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) {
      log::warn("cannot open " + path.string() + "; the command's output is discarded");
      fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    }
    detached_out_ = std::make_unique<FdWriter>(loop_, fd);
    sandbox::ExecSpec spec;
    spec.argv = std::move(argv);
    sandbox::ExecEvents ev;
    ev.on_output = [this](sandbox::OutputStream, std::string_view bytes,
                          std::function<void()> consumed) {
      detached_out_->write(std::string(bytes), [consumed = std::move(consumed)](int) {
        if (consumed) consumed();
      });
    };
    ev.on_exit = [this](int code) {
      command_code_ = code;
      log::info("sandbox " + sandbox_->id() + ": command exited with code " + std::to_string(code) +
                "; the sandbox keeps running");
    };
    ev.on_error = [this](const Error& e, int code) {
      command_code_ = code > 0 ? code : kExitEngineError;
      log::warn("sandbox " + sandbox_->id() + ": command failed: " + e.message);
    };
    exec_ = sandbox_->exec(spec, std::move(ev));
  }

  void start_exec(std::vector<std::string> argv) {
    sandbox::ExecSpec spec;
    spec.argv = std::move(argv);
    spec.tty = opts_.tty;
    spec.stdin_open = opts_.interactive;
    if (opts_.tty) {
      auto ws = terminal_size();
      spec.rows = ws.rows;
      spec.cols = ws.cols;
    }
    sandbox::ExecEvents ev;
    ev.on_output = [this](sandbox::OutputStream fd, std::string_view bytes,
                          std::function<void()> consumed) {
      auto& sink = fd == sandbox::OutputStream::kStderr ? err_ : out_;
      sink.write(std::string(bytes), [consumed = std::move(consumed)](int) {
        if (consumed) consumed();
      });
    };
    ev.on_exit = [this](int code) { on_command_exit(code); };
    ev.on_error = [this](const Error& e, int code) {
      if (stopped_elsewhere_) return;  // reported by on_stopped_elsewhere
      fail(e.message, code > 0 ? code : kExitEngineError);
    };
    exec_ = sandbox_->exec(spec, std::move(ev));
    if (opts_.tty && in_.is_tty() && opts_.interactive) in_.set_raw_mode();
    if (opts_.tty) watch_window_size();
    if (opts_.interactive) pump_stdin();
  }

  void on_command_exit(int code) {
    if (!opts_.keep_running()) return finish(code);
    command_code_ = code;
    host_->set_timeout(0);  // --timeout bounds the command; a kept sandbox stays
    in_.restore_mode();
    in_.pause();
    // Flushed first, so the notice follows the command's own output.
    out_.flush([this] {
      err_.flush([this] {
        std::fprintf(stderr,
                     "matchlock: sandbox %s kept running (--rm=false); stop it with: "
                     "matchlock kill %s\n",
                     sandbox_->id().c_str(), sandbox_->id().c_str());
      });
    });
  }

  // `matchlock kill` (or another control client's close) stopped the sandbox.
  void on_stopped_elsewhere() {
    if (done_) return;
    stopped_elsewhere_ = true;
    bool running = exec_ && !exec_->finished() && !command_code_;
    if (running && !opts_.detach) {
      std::fprintf(stderr, "matchlock: sandbox %s was stopped while the command ran\n",
                   sandbox_->id().c_str());
    }
    finish(command_code_ ? *command_code_ : 128 + SIGKILL);
  }

  void pump_stdin() {
    // Stop reading the host's stdin while the guest has not taken what we already sent.
    constexpr size_t kMaxBacklog = 1 << 20;
    exec_->set_on_stdin_drained([this] { in_.resume(); });
    in_.start(
        [this](std::string_view bytes) {
          if (!exec_ || exec_->finished()) return;
          exec_->write_stdin(std::string(bytes));
          if (exec_->stdin_backlog() > kMaxBacklog) in_.pause();
        },
        [this] {
          if (exec_) exec_->close_stdin();
        });
  }

  void watch_window_size() {
    winch_ = std::make_unique<uv::Signal>(loop_, SIGWINCH, [this](int) {
      if (!exec_) return;
      auto ws = terminal_size();
      exec_->resize(ws.rows, ws.cols);
    });
  }

  void fail(const std::string& message, int code) {
    if (done_) return;
    in_.restore_mode();
    std::fprintf(stderr, "matchlock: %s\n", printable(message).c_str());
    finish(code);
  }

  // Flushes output, stops the sandbox (removing it unless --rm=false), then ends the loop.
  void finish(int code) {
    if (done_) return;
    done_ = true;
    exit_code_ = code;
    if (host_) host_->set_timeout(0);
    in_.restore_mode();
    in_.pause();
    out_.flush([this] {
      err_.flush([this] {
        if (!host_) return stop_loop();
        host_->close(opts_.graceful_shutdown_ms, false, [this](Status st) {
          if (!st.ok()) log::warn("stopping sandbox: " + st.error().message);
          if (!opts_.remove) {
            std::fprintf(stderr, "matchlock: sandbox %s kept (--rm=false)\n",
                         sandbox_->id().c_str());
          }
          // Control clients still get the last lines they are owed (kill's close reply).
          if (!control_) return stop_loop();
          control_->when_idle([this] { stop_loop(); });
        });
      });
    });
  }

  void stop_loop() {
    for (auto& s : signals_) s->close();
    if (winch_) winch_->close();
    uv_stop(loop_);
  }

  uv_loop_t* loop_;
  RunOptions opts_;
  ReadyPipe ready_;
  FdWriter out_, err_;
  FdReader in_;
  std::shared_ptr<sandbox::Sandbox> sandbox_;
  std::shared_ptr<rpc::SandboxHost> host_;
  std::shared_ptr<rpc::ControlServer> control_;
  std::shared_ptr<SandboxStopWatch> stop_watch_;
  std::shared_ptr<sandbox::ExecHandle> exec_;
  std::unique_ptr<FdWriter> detached_out_;
  std::vector<std::unique_ptr<uv::Signal>> signals_;
  std::unique_ptr<uv::Signal> winch_;
  std::optional<int> command_code_;  // once the command exited (kept sandboxes)
  bool signalled_ = false;
  int stop_after_boot_ = 0;  // a signal that arrived while booting
  bool stopped_elsewhere_ = false;
  bool done_ = false;
  int exit_code_ = 0;
};

Status ensure_image(const RunOptions& opts) {
  auto store = image::ImageStore::open(images_dir());
  if (!store.ok()) return store.error();
  if (!opts.pull) {
    auto found = (*store)->find(opts.sandbox.image);
    if (found.ok() || found.error().code != ErrorCode::kNotFound) return {};
  }
  auto pulled = pull_with_progress(**store, opts.sandbox.image, image::PullOptions{}, opts.quiet);
  if (!pulled.ok()) return pulled.error();
  return {};
}

// Owns the sandbox on this process's loop until it stops; returns run's exit code.
int serve_run(RunOptions opts, ReadyPipe ready) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int code;
  {
    RunSession session(&loop, std::move(opts), std::move(ready));
    session.start();
    uv_run(&loop, UV_RUN_DEFAULT);
    code = session.exit_code();
  }
  // Let close callbacks of the session's handles run, then leave without waiting on stray
  // thread-pool reads of a blocking stdin.
  uv_run(&loop, UV_RUN_NOWAIT);
  std::fflush(stdout);
  std::fflush(stderr);
  return code;
}

// `run -d`: forks the owner into its own session with stdio on /dev/null and waits for its
// one-line report. The parent prints only the id; a boot failure is its error, and the owner
// has already removed everything by then.
int run_detached(RunOptions opts) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail("pipe failed", kExitEngineError);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  std::fflush(stdout);
  std::fflush(stderr);
  pid_t pid = ::fork();
  if (pid < 0) return fail("fork failed", kExitEngineError);
  if (pid == 0) {
    read_end.reset();
    ::setsid();
    int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd : {0, 1, 2}) ::dup2(null_fd, fd);  // engine.log replaces 2 once the id is known
    if (null_fd > 2) ::close(null_fd);
    ::signal(SIGHUP, SIG_IGN);
    _exit(serve_run(std::move(opts), ReadyPipe(write_end.release())));
  }
  write_end.reset();
  std::string report;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(buf, static_cast<size_t>(n));
  }
  while (!report.empty() && report.back() == '\n') report.pop_back();
  if (report.rfind("ok ", 0) == 0) {
    std::printf("%s\n", report.substr(3).c_str());
    return 0;
  }
  if (report.rfind("error ", 0) == 0) return fail(report.substr(6), kExitEngineError);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return fail("the detached sandbox owner exited before the sandbox was ready", kExitEngineError);
}

}  // namespace

int cmd_run(Args args) {
  auto parser = run_arg_parser();
  if (auto p = parser.parse(args); p.ok() && p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  auto opts = parse_run_options(args, ::isatty(0) == 1);
  if (!opts.ok()) return fail(opts.error().message);
  // Pull here rather than inside Sandbox::create so the user sees progress; the sandbox then
  // finds the image locally.
  if (auto st = ensure_image(*opts); !st.ok()) return fail(st.error().message, kExitEngineError);
  if (opts->detach) return run_detached(std::move(opts.value()));
  _exit(serve_run(std::move(opts.value()), ReadyPipe()));
}

}  // namespace matchlock::cli
