#include "rpc/stdio_server.h"

#include <csignal>
#include <vector>

#include "core/log.h"
#include "core/uv.h"
#include "rpc/input.h"
#include "rpc/output.h"
#include "rpc/server.h"

namespace matchlock::rpc {

void serve_stdio(uv_loop_t* loop, VmFactory vm_factory) {
  auto output = open_fd_output(loop, 1);
  auto server = Server::create(loop, output, std::move(vm_factory));
  auto input = open_fd_input(loop, 0);
  std::weak_ptr<Server> ws = server;
  std::weak_ptr<Input> wi = input;

  server->set_on_input_paused([wi](bool paused) {
    if (auto in = wi.lock()) paused ? in->pause() : in->resume();
  });
  server->set_on_done([loop, wi] {
    if (auto in = wi.lock()) in->close();
    uv_stop(loop);
  });

  // A signal means the same as the client going away: cancel, close the VM, exit. The VM must
  // never outlive this process.
  std::vector<uv::Handle<uv_signal_t>> signals;
  for (int signo : {SIGTERM, SIGINT, SIGHUP}) {
    auto& h = signals.emplace_back();
    uv_signal_init(loop, h.get());
    h.mark_initialized();
    h.get()->data = server.get();
    uv_signal_start(
        h.get(),
        [](uv_signal_t* s, int signo) {
          auto* self = static_cast<Server*>(s->data);
          if (!self) return;
          log::info("rpc: signal " + std::to_string(signo) + ", shutting down");
          self->handle_eof();
        },
        signo);
    uv_unref(h.handle());  // signals alone do not keep the loop running
  }

  input->start(
      [ws](std::string_view bytes) {
        if (auto s = ws.lock()) s->handle_input(bytes);
      },
      [ws] {
        if (auto s = ws.lock()) s->handle_eof();
      });

  uv_run(loop, UV_RUN_DEFAULT);
  if (!server->done()) log::warn("rpc: event loop ended before the server finished");

  signals.clear();
  input->close();
  input.reset();
  server.reset();
  output.reset();
  // Let close callbacks of the handles released above run.
  uv_run(loop, UV_RUN_NOWAIT);
}

}  // namespace matchlock::rpc
