// Stopping a recorded process without ever signalling a stranger: every signal goes to a
// VerifiedProcess (pid + start time checked through a pidfd), and success is observed (the
// process is gone), never assumed after a sleep.
#pragma once

#include <chrono>

#include "core/process_identity.h"
#include "core/result.h"

namespace matchlock::cli {

enum class Termination {
  kNotRunning,    // nothing to do: gone already, or the pid belongs to another process now
  kExitedOnTerm,  // exited within the grace period after SIGTERM
  kKilled,        // needed SIGKILL
};

struct TerminationTimeouts {
  std::chrono::milliseconds grace{10000};     // after SIGTERM, before SIGKILL (docker's 10 s)
  std::chrono::milliseconds kill_wait{5000};  // after SIGKILL; only a D-state process takes long
};

// SIGTERM, wait up to `grace` for the exit, then SIGKILL and wait up to `kill_wait`. Error if
// the process outlives both, or a signal cannot be sent.
Result<Termination> terminate_verified(const ProcessIdentity& id, TerminationTimeouts timeouts);

// SIGKILL right away, then wait up to `kill_wait`. kNotRunning or kKilled.
Result<Termination> kill_verified(const ProcessIdentity& id, std::chrono::milliseconds kill_wait);

}  // namespace matchlock::cli
