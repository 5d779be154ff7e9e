// The JSON-RPC server behind `matchlock rpc`: a SandboxHost (the one sandbox of this process)
// and the owner's Session on stdin/stdout. `Server::create` builds both; control-socket
// clients get further sessions on the same host (rpc/control_server.h).
#pragma once

#include "rpc/sandbox_host.h"
#include "rpc/session.h"

namespace matchlock::rpc {

using Server = Session;

}  // namespace matchlock::rpc
