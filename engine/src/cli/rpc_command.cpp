// `matchlock rpc`: JSON-RPC 2.0 over stdin/stdout for the SDKs (docs/rpc.md).
#include <uv.h>

#include <csignal>
#include <cstdio>

#include "cli/commands.h"
#include "cli/rpc_attach.h"
#include "core/uv.h"
#include "rpc/sandbox_vm.h"
#include "rpc/stdio_server.h"

namespace matchlock::cli {

int cmd_rpc(Args args) {
  if (args.size() == 1 && (args[0] == "-h" || args[0] == "--help")) {
    std::printf(
        "Usage: matchlock rpc [--attach VM_ID]\n\n"
        "Serve JSON-RPC 2.0 on stdin/stdout, one JSON object per line, for one sandbox.\n"
        "This is what the matchlock SDKs spawn; see docs/rpc.md.\n\n"
        "Without flags: `create` boots a new sandbox owned by this process; it stops when\n"
        "stdin ends.\n\n"
        "Flags:\n"
        "  --attach VM_ID  serve the protocol for a sandbox that is already running (owned by\n"
        "                  another process): `create` is refused, `close` stops the sandbox,\n"
        "                  closing stdin only detaches and leaves it running.\n");
    return 0;
  }
  if (!args.empty() && (args[0] == "--attach" || args[0].starts_with("--attach="))) {
    std::string id;
    if (args[0] == "--attach" && args.size() == 2) id = args[1];
    if (args[0] != "--attach" && args.size() == 1) id = args[0].substr(sizeof("--attach=") - 1);
    if (id.empty()) return fail("usage: matchlock rpc --attach VM_ID");
    return attach_rpc(id);
  }
  if (!args.empty())
    return fail("rpc: unexpected argument \"" + args[0] +
                "\" (usage: matchlock rpc [--attach VM_ID])");
  // A client that closes stdout must not kill us before the VM is closed.
  std::signal(SIGPIPE, SIG_IGN);
  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return fail("cannot create the event loop", 1);
  int code = rpc::serve_stdio(&loop, rpc::sandbox_vm_factory(&loop));
  uv::close_loop(&loop);
  return code;
}

}  // namespace matchlock::cli
