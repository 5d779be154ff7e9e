// `matchlock rpc`: JSON-RPC 2.0 over stdin/stdout for the SDKs (rpc-protocol.md).
#include <uv.h>

#include <csignal>
#include <cstdio>

#include "cli/commands.h"
#include "core/uv.h"
#include "rpc/sandbox_vm.h"
#include "rpc/stdio_server.h"

namespace matchlock::cli {

int cmd_rpc(Args args) {
  if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
    std::printf(
        "Usage: matchlock rpc\n\nServe JSON-RPC 2.0 on stdin/stdout, one JSON object per line, "
        "for one sandbox.\nThis is what the matchlock SDKs spawn; see docs/rpc.md.\n");
    return 0;
  }
  if (!args.empty()) return fail("rpc takes no arguments (usage: matchlock rpc)");
  // A client that closes stdout must not kill us before the VM is closed.
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return fail("cannot create the event loop", 1);
  int code = rpc::serve_stdio(&loop, rpc::sandbox_vm_factory(&loop));
  uv::close_loop(&loop);
  return code;
}

}  // namespace matchlock::cli
