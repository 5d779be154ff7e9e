// How the lifecycle commands reach the state database and name sandboxes: a full id or, as in
// docker, any unique prefix of one. Rows come back reconciled (see state/reconcile.h).
#pragma once

#include <memory>
#include <string>

#include "state/state_store.h"

namespace matchlock::cli {

// The state store of $MATCHLOCK_HOME.
Result<std::unique_ptr<state::StateStore>> open_state();

// The reconciled row for a full id or a unique id prefix. kNotFound "no such sandbox: X";
// a prefix of several ids is kInvalidArgument naming them.
Result<state::SandboxRow> find_sandbox(state::StateStore& store, const std::string& id_or_prefix);

}  // namespace matchlock::cli
