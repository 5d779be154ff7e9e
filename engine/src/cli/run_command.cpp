// `matchlock run`: this process becomes the sandbox's owner, runs one command in it with the
// terminal's or pipes' stdio, and exits with the command's exit code.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>

#include "cli/commands.h"
#include "cli/pull_progress.h"
#include "cli/run_options.h"
#include "core/fd_stream.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/uv.h"
#include "image/image_store.h"
#include "sandbox/sandbox.h"

namespace matchlock::cli {
namespace {

// Exit codes of our own (the command's code passes through otherwise), docker-like.
constexpr int kExitEngineError = 125;
constexpr int kExitTimeout = 124;

struct WindowSize {
  uint16_t rows = 24, cols = 80;
};

WindowSize terminal_size() {
  winsize ws{};
  for (int fd : {1, 0, 2}) {
    if (::ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0) {
      return {ws.ws_row, ws.ws_col};
    }
  }
  return {};
}

// One `run`: owns the loop-side objects and the order in which they end.
class RunSession {
 public:
  RunSession(uv_loop_t* loop, RunOptions opts)
      : loop_(loop),
        opts_(std::move(opts)),
        out_(loop, 1),
        err_(loop, 2),
        in_(loop, 0),
        timeout_(loop) {}

  void start() {
    install_signal(SIGINT);
    install_signal(SIGTERM);
    install_signal(SIGHUP);
    sandbox::Sandbox::create(loop_, opts_.sandbox, [this](auto r) { on_created(std::move(r)); });
  }

  int exit_code() const { return exit_code_; }

 private:
  void install_signal(int signo) {
    auto h = std::make_unique<uv::Handle<uv_signal_t>>();
    h->init(loop_, this, uv_signal_init);
    uv_signal_start(
        h->get(),
        [](uv_signal_t* s, int signo) {
          if (auto* self = static_cast<RunSession*>(s->data)) self->on_signal(signo);
        },
        signo);
    signals_.push_back(std::move(h));
  }

  void on_signal(int signo) {
    // First signal goes to the command (as docker's sig-proxy); a second one stops everything.
    if (exec_ && !exec_->finished() && !signalled_) {
      signalled_ = true;
      exec_->signal(signo);
      return;
    }
    finish(128 + signo);
  }

  void on_created(Result<std::shared_ptr<sandbox::Sandbox>> r) {
    if (!r.ok()) {
      fail(r.error().message, kExitEngineError);
      return;
    }
    sandbox_ = r.value();
    sandbox_->set_on_terminated([this](const Error& e) {
      fail("sandbox " + sandbox_->id() + " stopped unexpectedly: " + e.message, kExitEngineError);
    });
    auto argv = sandbox_->compose_command(opts_.command);
    if (argv.empty()) {
      fail("no command given and the image has no ENTRYPOINT or CMD", kExitEngineError);
      return;
    }
    if (opts_.timeout_seconds > 0) {
      timeout_.start(opts_.timeout_seconds * 1000, [this] {
        fail("sandbox " + sandbox_->id() + " timed out after " +
                 std::to_string(opts_.timeout_seconds) + " s and was stopped",
             kExitTimeout);
      });
    }
    start_exec(std::move(argv));
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
    ev.on_output = [this](channel::StreamFd fd, std::string_view bytes,
                          std::function<void()> consumed) {
      auto& sink = fd == channel::kStderr ? err_ : out_;
      sink.write(std::string(bytes), [consumed = std::move(consumed)](int) {
        if (consumed) consumed();
      });
    };
    ev.on_exit = [this](int code) { finish(code); };
    ev.on_error = [this](const Error& e, int code) {
      fail(e.message, code > 0 ? code : kExitEngineError);
    };
    exec_ = sandbox_->exec(spec, std::move(ev));
    if (opts_.tty && in_.is_tty() && opts_.interactive) in_.set_raw_mode();
    if (opts_.tty) watch_window_size();
    if (opts_.interactive) pump_stdin();
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
    winch_ = std::make_unique<uv::Handle<uv_signal_t>>();
    winch_->init(loop_, this, uv_signal_init);
    uv_signal_start(
        winch_->get(),
        [](uv_signal_t* s, int) {
          auto* self = static_cast<RunSession*>(s->data);
          if (!self || !self->exec_) return;
          auto ws = terminal_size();
          self->exec_->resize(ws.rows, ws.cols);
        },
        SIGWINCH);
  }

  void fail(const std::string& message, int code) {
    if (done_) return;
    in_.restore_mode();
    std::fprintf(stderr, "matchlock: %s\n", message.c_str());
    finish(code);
  }

  // Flushes output, stops the sandbox (removing it unless --rm=false), then ends the loop.
  void finish(int code) {
    if (done_) return;
    done_ = true;
    exit_code_ = code;
    timeout_.stop();
    in_.restore_mode();
    in_.pause();
    out_.flush([this] {
      err_.flush([this] {
        if (!sandbox_) return stop_loop();
        sandbox_->close(opts_.graceful_shutdown_ms, [this](Status st) {
          if (!st.ok()) log::warn("stopping sandbox: " + st.error().message);
          if (!opts_.remove) {
            std::fprintf(stderr, "matchlock: sandbox %s kept (--rm=false)\n",
                         sandbox_->id().c_str());
          }
          stop_loop();
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
  FdWriter out_, err_;
  FdReader in_;
  uv::Timer timeout_;
  std::shared_ptr<sandbox::Sandbox> sandbox_;
  std::shared_ptr<sandbox::ExecHandle> exec_;
  std::vector<std::unique_ptr<uv::Handle<uv_signal_t>>> signals_;
  std::unique_ptr<uv::Handle<uv_signal_t>> winch_;
  bool signalled_ = false;
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

  uv_loop_t loop;
  uv_loop_init(&loop);
  int code;
  {
    RunSession session(&loop, std::move(opts.value()));
    session.start();
    uv_run(&loop, UV_RUN_DEFAULT);
    code = session.exit_code();
  }
  // Let close callbacks of the session's handles run, then leave without waiting on stray
  // thread-pool reads of a blocking stdin.
  uv_run(&loop, UV_RUN_NOWAIT);
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(code);
}

}  // namespace matchlock::cli
