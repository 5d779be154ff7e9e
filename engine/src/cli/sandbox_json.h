// The JSON documents of `matchlock get` and `matchlock inspect`, built from state rows only
// (pure functions, so they are tested without a VM or a database).
#pragma once

#include <string>
#include <vector>

#include "state/state_store.h"

namespace matchlock::cli {

// What /proc said about the recorded processes when the document was made.
struct ProcessLiveness {
  bool owner_alive = false;
  bool qemu_alive = false;
};

// `get`: {id, status, image, created_at (RFC 3339), owner_pid, qemu_pid}; a pid that was never
// recorded is null. Pretty-printed, ending in a newline.
std::string sandbox_summary_json(const state::SandboxRow& row);

// `inspect`: the summary plus owner/qemu process details, the recorded configuration (config,
// and its resources / network / mounts / ports sections lifted out where recorded; null
// otherwise) and the lifecycle history with RFC 3339 times. Secret values are dropped from
// the configuration even if a writer failed to redact them.
std::string sandbox_inspect_json(const state::SandboxRow& row,
                                 const std::vector<state::LifecycleRow>& history,
                                 const ProcessLiveness& liveness);

}  // namespace matchlock::cli
