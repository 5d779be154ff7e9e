// Reconcile on read: the state database says what was true when an owner last wrote; /proc
// says what is true now. A row that claims creating/running while its owner process is gone
// (dead, or its pid reused by another process) is reported and stored as crashed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/process_identity.h"
#include "state/state_store.h"

namespace matchlock::state {

ProcessIdentity owner_identity(const SandboxRow& row);
ProcessIdentity qemu_identity(const SandboxRow& row);

// Whether the recorded owner is still alive. Rows from before start times were recorded are
// judged by pid existence alone (they can be reported, never signalled).
bool owner_alive(const SandboxRow& row);

// If `row` is active but its owner is gone, marks it crashed in the store (unless the owner
// changed it meanwhile, in which case the fresh row is read back). Returns the row as it now
// stands; nullopt if it was removed meanwhile.
Result<std::optional<SandboxRow>> reconcile(StateStore& store, SandboxRow row);

// get_sandbox / list_sandboxes with every row reconciled first.
Result<std::optional<SandboxRow>> get_reconciled(StateStore& store, const std::string& id);
Result<std::vector<SandboxRow>> list_reconciled(StateStore& store);

}  // namespace matchlock::state
