// `matchlock exec`: a client of a running sandbox's control socket. Runs one command through
// exec_pipe (or exec_tty with -t), streaming stdio both ways with back-pressure, and exits with
// the command's exit code.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli/commands.h"
#include "cli/control_client.h"
#include "cli/exec_options.h"
#include "cli/shell_words.h"
#include "cli/terminal.h"
#include "core/base64.h"
#include "core/fd_stream.h"
#include "core/json.h"
#include "core/printable.h"
#include "core/uv.h"
#include "rpc/line_framer.h"

namespace matchlock::cli {
namespace {

constexpr int kExitEngineError = 125;
constexpr int kExitCannotRun = 126;
constexpr uint64_t kExecId = 1;
constexpr uint64_t kCancelId = 2;
// Above this many bytes queued toward a slow reader, stop reading from its source.
constexpr size_t kHighWater = 1 << 20;
constexpr size_t kLowWater = 256 << 10;
// After a signal, how long the sandbox gets to end the command: the engine's own grace (2 s of
// SIGTERM, then SIGKILL) plus room for a slow TCG guest. A frozen or hostile guest never
// answers, and a signal must still end the wait.
constexpr uint64_t kCancelAnswerMs = 10000;

class ExecClient {
 public:
  ExecClient(uv_loop_t* loop, ExecOptions opts, UniqueFd socket)
      : loop_(loop),
        opts_(std::move(opts)),
        sock_fd_(socket.release()),
        sock_in_(loop, sock_fd_),
        sock_out_(loop, ::dup(sock_fd_)),
        in_(loop, 0),
        out_(loop, 1),
        err_(loop, 2),
        framer_([this](std::string_view line) { on_line(line); },
                [this] { fail("the sandbox sent an overlong line", kExitEngineError); }) {}

  int exit_code() const { return exit_code_; }

  void start() {
    for (int signo : {SIGINT, SIGTERM, SIGHUP}) install_signal(signo);
    send_request();
    sock_in_.start([this](std::string_view bytes) { framer_.feed(bytes); },
                   [this] {
                     framer_.finish();
                     // The owner closes its clients' connections only as it goes: with the
                     // sandbox (killed, or crashed with its owner).
                     fail("sandbox " + opts_.id +
                              " was stopped while the command ran (its owner closed the "
                              "connection)",
                          kExitEngineError);
                   });
  }

 private:
  const char* method() const { return opts_.tty ? "exec_tty" : "exec_pipe"; }

  void send_request() {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    rapidjson::Value p(rapidjson::kObjectType);
    p.AddMember("command", json::str(shell_join(opts_.command), a), a);
    if (opts_.workdir) p.AddMember("working_dir", json::str(*opts_.workdir, a), a);
    if (opts_.user) p.AddMember("user", json::str(*opts_.user, a), a);
    if (!opts_.env.empty()) {
      rapidjson::Value env(rapidjson::kObjectType);
      for (const auto& [k, v] : opts_.env) env.AddMember(json::str(k, a), json::str(v, a), a);
      p.AddMember("env", env, a);
    }
    if (opts_.tty) {
      auto ws = terminal_size();
      p.AddMember("rows", ws.rows, a);
      p.AddMember("cols", ws.cols, a);
    }
    d.AddMember("jsonrpc", "2.0", a);
    d.AddMember("method", rapidjson::StringRef(method()), a);
    d.AddMember("params", p, a);
    d.AddMember("id", kExecId, a);
    send_line(json::to_string(d));
  }

  // Input messages are notifications (no top-level id): the server never answers them.
  void send_input(const char* suffix, std::optional<std::string_view> data = std::nullopt) {
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    rapidjson::Value p(rapidjson::kObjectType);
    p.AddMember("id", kExecId, a);
    if (data) p.AddMember("data", json::str(base64::encode(*data), a), a);
    d.AddMember("jsonrpc", "2.0", a);
    d.AddMember("method", json::str(std::string(method()) + suffix, a), a);
    d.AddMember("params", p, a);
    send_line(json::to_string(d));
  }

  void send_resize() {
    auto ws = terminal_size();
    json::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    rapidjson::Value p(rapidjson::kObjectType);
    p.AddMember("id", kExecId, a);
    p.AddMember("rows", ws.rows, a);
    p.AddMember("cols", ws.cols, a);
    d.AddMember("jsonrpc", "2.0", a);
    d.AddMember("method", "exec_tty.resize", a);
    d.AddMember("params", p, a);
    send_line(json::to_string(d));
  }

  void send_cancel() {
    send_line(R"({"jsonrpc":"2.0","method":"cancel","params":{"id":1},"id":)" +
              std::to_string(kCancelId) + "}");
  }

  // Back-pressure toward the sandbox: stdin is read only while the socket keeps up.
  void send_line(std::string line) {
    line += '\n';
    size_t n = line.size();
    sock_backlog_ += n;
    sock_out_.write(std::move(line), [this, n](int) {
      sock_backlog_ -= n;
      if (stdin_paused_ && sock_backlog_ < kLowWater) {
        stdin_paused_ = false;
        in_.resume();
      }
    });
    if (stdin_started_ && !stdin_paused_ && sock_backlog_ > kHighWater) {
      stdin_paused_ = true;
      in_.pause();
    }
  }

  void on_line(std::string_view line) {
    if (done_) return;
    json::Document d;
    d.Parse(line.data(), line.size());
    if (d.HasParseError() || !d.IsObject()) return;
    if (const auto* m = json::member(d, "method"); m && m->IsString()) {
      return on_notification(std::string(m->GetString(), m->GetStringLength()), d);
    }
    const auto* id = json::member(d, "id");
    if (!id || !id->IsUint64() || id->GetUint64() != kExecId) return;  // e.g. cancel's reply
    if (const auto* err = json::member(d, "error")) {
      int code = static_cast<int>(json::get_int(*err, "code", 0));
      std::string message = json::get_string(*err, "message", "unknown error");
      if (code == -32003) {
        if (signalled_) return finish(128 + signalled_);
        return fail("sandbox " + opts_.id + " was stopped while the command ran", 137);
      }
      return fail(message, code == -32001 ? kExitCannotRun : kExitEngineError);
    }
    const auto* result = json::member(d, "result");
    finish(result ? static_cast<int>(json::get_int(*result, "exit_code", kExitEngineError))
                  : kExitEngineError);
  }

  void on_notification(const std::string& m, const rapidjson::Document& d) {
    const auto* p = json::member(d, "params");
    if (!p) return;
    const std::string prefix = method();
    if (m == prefix + ".ready") return on_ready();
    bool is_out = m == prefix + ".stdout";
    bool is_err = m == prefix + ".stderr";
    if (!is_out && !is_err) return;
    auto bytes = base64::decode(json::get_string(*p, "data"));
    if (!bytes) return;
    // Back-pressure toward the guest: stop reading the socket while our stdout lags; the
    // server then stops returning credit to the guest process.
    size_t n = bytes->size();
    out_backlog_ += n;
    (is_err ? err_ : out_).write(std::move(*bytes), [this, n](int) {
      out_backlog_ -= n;
      if (socket_paused_ && out_backlog_ < kLowWater) {
        socket_paused_ = false;
        sock_in_.resume();
      }
    });
    if (!socket_paused_ && out_backlog_ > kHighWater) {
      socket_paused_ = true;
      sock_in_.pause();
    }
  }

  void on_ready() {
    if (opts_.tty) watch_window_size();
    if (!opts_.interactive) {
      if (!opts_.tty) send_input(".stdin_eof");
      return;
    }
    if (opts_.tty && in_.is_tty()) in_.set_raw_mode();
    stdin_started_ = true;
    in_.start(
        [this](std::string_view bytes) {
          if (!done_) send_input(".stdin", bytes);
        },
        [this] {
          if (!done_) send_input(".stdin_eof");
        });
  }

  void install_signal(int signo) {
    signals_.push_back(std::make_unique<uv::Signal>(loop_, signo, [this](int s) { on_signal(s); }));
  }

  void on_signal(int signo) {
    // First signal: cancel the command in the sandbox (SIGTERM, then SIGKILL); a second one
    // leaves without waiting.
    if (signalled_ || done_) return finish(128 + signo);
    signalled_ = signo;
    send_cancel();
    cancel_timer_ = std::make_unique<uv::Timer>(loop_);
    cancel_timer_->start(kCancelAnswerMs, [this, signo] {
      fail("sandbox " + opts_.id + " did not end the command within " +
               std::to_string(kCancelAnswerMs / 1000) +
               " s of the signal; stopped waiting (the command may still run)",
           128 + signo);
    });
  }

  void watch_window_size() {
    winch_ = std::make_unique<uv::Signal>(loop_, SIGWINCH, [this](int) {
      if (!done_) send_resize();
    });
  }

  void fail(const std::string& message, int code) {
    if (done_) return;
    in_.restore_mode();
    std::fprintf(stderr, "matchlock: %s\n", printable(message).c_str());
    finish(code);
  }

  void finish(int code) {
    if (done_) return;
    done_ = true;
    exit_code_ = code;
    in_.restore_mode();
    in_.pause();
    sock_in_.pause();
    out_.flush([this] {
      err_.flush([this] {
        for (auto& s : signals_) s->close();
        if (winch_) winch_->close();
        uv_stop(loop_);
      });
    });
  }

  uv_loop_t* loop_;
  ExecOptions opts_;
  int sock_fd_;
  FdReader sock_in_;
  FdWriter sock_out_;
  FdReader in_;
  FdWriter out_, err_;
  rpc::LineFramer framer_;
  std::vector<std::unique_ptr<uv::Signal>> signals_;
  std::unique_ptr<uv::Signal> winch_;
  std::unique_ptr<uv::Timer> cancel_timer_;  // bounds the wait after a signal
  size_t sock_backlog_ = 0;
  size_t out_backlog_ = 0;
  bool stdin_started_ = false;
  bool stdin_paused_ = false;
  bool socket_paused_ = false;
  int signalled_ = 0;
  bool done_ = false;
  int exit_code_ = kExitEngineError;
};

}  // namespace

int cmd_exec(Args args) {
  auto parser = exec_arg_parser();
  if (auto p = parser.parse(args); p.ok() && p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  auto opts = parse_exec_options(args, ::isatty(0) == 1);
  if (!opts.ok()) return fail(opts.error().message);
  auto sock = connect_sandbox(opts->id);
  if (!sock.ok()) return fail(sock.error().message, kExitEngineError);

  uv_loop_t loop;
  uv_loop_init(&loop);
  int code;
  {
    ExecClient client(&loop, std::move(opts.value()), std::move(sock.value()));
    client.start();
    uv_run(&loop, UV_RUN_DEFAULT);
    code = client.exit_code();
  }
  uv_run(&loop, UV_RUN_NOWAIT);
  std::fflush(stdout);
  std::fflush(stderr);
  // Like run: do not wait on a thread-pool read of a blocking stdin.
  _exit(code);
}

}  // namespace matchlock::cli
