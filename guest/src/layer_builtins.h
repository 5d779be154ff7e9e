// EXEC_OPEN "builtin": the layer commands the agent runs itself, in a forked child whose
// stdio is the exec stream's (so output flow control is the usual one).
#pragma once

#include <string>

#include "build_root.h"
#include "exec_request.h"

namespace matchlock::guest_agent {

// Runs `builtin` on layer `layer_id` with the tar on fd 0 (apply) or 1 (export). Errors are
// written to fd 2 as one line. Returns the exit code (0 on success).
int run_layer_builtin(Builtin builtin, const std::string& layer_id, const BuildStorage& storage);

}  // namespace matchlock::guest_agent
