// `matchlock rpc --attach VM_ID`: the rpc protocol on stdin/stdout, relayed byte for byte to
// a running sandbox's control socket (rpc/control_server.h), so an SDK reaches a sandbox
// another process owns exactly as it reaches one it spawned.
#pragma once

#include <string>

namespace matchlock::cli {

// Relays until the sandbox side closes the connection (its sandbox stopped, or this client's
// stdin ended and the owner answered what it still owed). stdin EOF or a signal only
// detaches: the write half of the socket is shut down, the sandbox keeps running. An unknown
// or stopped id is one line on stderr naming it; returns the exit status.
int attach_rpc(const std::string& sandbox_id);

}  // namespace matchlock::cli
