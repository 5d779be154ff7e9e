// Stopping and removing sandboxes from outside their owner process, for rm, prune and gc.
// Until owners serve a control socket, "stop" means signals to the verified owner process; its
// own shutdown path then closes QEMU (which also dies with it through PR_SET_PDEATHSIG).
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cli/process_termination.h"
#include "state/state_store.h"

namespace matchlock::cli {

// What stopping an active sandbox took, for the caller's messages.
struct StopReport {
  Termination owner = Termination::kNotRunning;
  Termination qemu = Termination::kNotRunning;
  std::optional<state::SandboxRow> row;  // reconciled after the stop; nullopt: owner removed it
};

// SIGTERM to the owner, bounded wait, SIGKILL to owner and QEMU if still there. Refuses a row
// recorded without an owner start time (the owner cannot be verified, so it is never signalled).
Result<StopReport> stop_sandbox(state::StateStore& store, const state::SandboxRow& row,
                                TerminationTimeouts timeouts = {});

// SIGKILLs the sandbox's QEMU if the recorded (pid, start time) still runs. For sandboxes whose
// owner is gone: QEMU normally dies with its owner, this covers the exception.
Result<Termination> reap_leftover_qemu(const state::SandboxRow& row);

// Removes a sandbox that is not active: leftover QEMU, then its folder, then its row (last, so a
// failure never loses the record of what is still on disk). A row already gone is fine.
Status remove_sandbox(state::StateStore& store, const state::SandboxRow& row);

// Deletes the sockets and disk images in a stopped sandbox's folder, keeping its logs.
// Returns the names removed, sorted. A missing folder is nothing to do.
Result<std::vector<std::string>> remove_leftover_files(const std::filesystem::path& dir);

// Names in `vms_dir` that belong to no known sandbox and were last modified at least `min_age`
// ago (younger ones may be a sandbox being created: its folder exists a moment before its row).
std::vector<std::string> orphan_folders(const std::filesystem::path& vms_dir,
                                        const std::set<std::string>& known_ids,
                                        std::chrono::seconds min_age);

}  // namespace matchlock::cli
