#include "cli/process_termination.h"

#include <csignal>
#include <string>

namespace matchlock::cli {
namespace {

Error outlived(const ProcessIdentity& id, const char* signal_name) {
  return Error(ErrorCode::kTimeout,
               "process " + std::to_string(id.pid) + " is still running after " + signal_name);
}

}  // namespace

Result<Termination> terminate_verified(const ProcessIdentity& id, TerminationTimeouts timeouts) {
  auto proc = VerifiedProcess::open(id);
  if (!proc.ok()) return proc.error();
  if (!proc->has_value()) return Termination::kNotRunning;
  MATCHLOCK_TRY((*proc)->signal(SIGTERM));
  if ((*proc)->wait_exit(timeouts.grace)) return Termination::kExitedOnTerm;
  MATCHLOCK_TRY((*proc)->signal(SIGKILL));
  if ((*proc)->wait_exit(timeouts.kill_wait)) return Termination::kKilled;
  return outlived(id, "SIGKILL");
}

Result<Termination> kill_verified(const ProcessIdentity& id, std::chrono::milliseconds kill_wait) {
  auto proc = VerifiedProcess::open(id);
  if (!proc.ok()) return proc.error();
  if (!proc->has_value()) return Termination::kNotRunning;
  MATCHLOCK_TRY((*proc)->signal(SIGKILL));
  if ((*proc)->wait_exit(kill_wait)) return Termination::kKilled;
  return outlived(id, "SIGKILL");
}

}  // namespace matchlock::cli
