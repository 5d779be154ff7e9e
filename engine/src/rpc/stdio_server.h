// `matchlock rpc`: the server on stdin/stdout until the client is done with it.
#pragma once

#include <uv.h>

#include "rpc/vm_port.h"

namespace matchlock::rpc {

// Serves requests from fd 0 and answers on fd 1, running `loop` until stdin has ended and the
// sandbox is closed (also on SIGTERM/SIGINT/SIGHUP, treated like stdin EOF), or until the sandbox
// crashed and its in-flight requests were answered. Returns the process's exit status: 1 after
// a crash (said on stderr), else 0.
int serve_stdio(uv_loop_t* loop, VmFactory vm_factory);

}  // namespace matchlock::rpc
