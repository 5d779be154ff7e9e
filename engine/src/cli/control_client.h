// The CLI's side of a sandbox's control socket (rpc/control_server.h): finding a running
// sandbox by id, connecting, and one blocking request/response (kill, allow-list). `exec`
// streams on the loop instead (exec_command.cpp) but resolves sandboxes here too.
#pragma once

#include <rapidjson/document.h>

#include <string>

#include "core/result.h"
#include "core/unique_fd.h"
#include "state/state_store.h"

namespace matchlock::cli {

// The sandbox's state row if it is running; errors are the one-line messages the user sees:
// "no such sandbox: <id>" (kNotFound) or "sandbox <id> is not running (status: <s>)".
Result<state::SandboxRow> find_running_sandbox(const std::string& id);

// Connects to a running sandbox's control socket ("sandbox <id> is not running" when its
// owner is gone without a trace).
Result<UniqueFd> connect_sandbox(const std::string& id);

// Sends one request and waits (blocking) for its response, skipping notifications. A JSON-RPC
// error becomes an Error carrying its message; end of connection first is kIo.
Result<rapidjson::Document> call_blocking(int fd, const std::string& method,
                                          const rapidjson::Value& params);

}  // namespace matchlock::cli
