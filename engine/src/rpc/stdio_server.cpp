#include "rpc/stdio_server.h"

#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "core/fd_stream.h"
#include "core/log.h"
#include "core/uv.h"
#include "rpc/control_server.h"
#include "rpc/control_socket.h"
#include "rpc/output.h"
#include "rpc/server.h"

namespace matchlock::rpc {
namespace {

// Protocol lines onto an fd (stdout).
class FdOutput : public Output {
 public:
  FdOutput(uv_loop_t* loop, int fd) : writer_(loop, fd) {}

  void write_line(std::string line, std::function<void(bool)> done) override {
    writer_.write(std::move(line), [done = std::move(done)](int status) {
      if (status != 0 && status != UV_ECANCELED) {
        log::debug("rpc: stdout write failed: " + uv::error_text(status));
      }
      if (done) done(status == 0);
    });
  }
  void flush(std::function<void()> done) override { writer_.flush(std::move(done)); }

 private:
  FdWriter writer_;
};

}  // namespace

int serve_stdio(uv_loop_t* loop, VmFactory vm_factory) {
  auto output = std::make_shared<FdOutput>(loop, 1);
  auto server = Server::create(loop, output, std::move(vm_factory));
  FdReader input(loop, 0);
  std::weak_ptr<Server> ws = server;

  server->set_on_input_paused([&input](bool paused) { paused ? input.pause() : input.resume(); });
  // Once the sandbox runs, other commands reach it on its control socket too.
  std::shared_ptr<ControlServer> control;
  auto host = server->host();
  host->set_on_ready([loop, &control, weak_host = std::weak_ptr<SandboxHost>(host)] {
    auto host = weak_host.lock();
    if (!host) return;
    auto started = ControlServer::start(loop, host, control_socket_path(host->id()));
    if (!started.ok()) {
      log::warn("rpc: no control socket: " + started.error().message);
      return;
    }
    control = std::move(started.value());
  });
  server->set_on_done([loop, &input, &control] {
    input.close();
    // Control clients still get the last lines they are owed (e.g. the reply to their close).
    if (!control) return uv_stop(loop);
    control->when_idle([loop] { uv_stop(loop); });
  });

  // A signal means the same as the client going away: cancel, close the VM, exit. The VM must
  // never outlive this process.
  std::vector<std::unique_ptr<uv::Signal>> signals;
  for (int signo : {SIGTERM, SIGINT, SIGHUP}) {
    signals.push_back(std::make_unique<uv::Signal>(
        loop, signo,
        [ws](int s) {
          auto self = ws.lock();
          if (!self) return;
          log::info("rpc: signal " + std::to_string(s) + ", shutting down");
          self->handle_eof();
        },
        /*keeps_loop_alive=*/false));
  }

  input.start(
      [ws](std::string_view bytes) {
        if (auto s = ws.lock()) s->handle_input(bytes);
      },
      [ws] {
        if (auto s = ws.lock()) s->handle_eof();
      });

  uv_run(loop, UV_RUN_DEFAULT);
  if (!server->done()) log::warn("rpc: event loop ended before the server finished");

  std::optional<Error> crash = host->crash();
  signals.clear();
  input.close();
  control.reset();
  server.reset();
  output.reset();
  // Let close callbacks of the handles released above run.
  uv_run(loop, UV_RUN_NOWAIT);
  if (!crash) return 0;
  std::fprintf(stderr, "matchlock: %s\n", crash->message.c_str());
  return 1;
}

}  // namespace matchlock::rpc
