// Process identity that survives pid reuse: a pid together with its start time (field 22 of
// /proc/<pid>/stat, clock ticks since boot). A recorded (pid, start time) names one process for
// ever; once it exits, a new process that gets the same pid has a different start time.
//
// Nothing here signals a process whose identity was not verified first, and signals go through
// a pidfd opened *before* the final check, so the pid cannot be recycled in between.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock {

// What we need from /proc/<pid>/stat.
struct ProcStat {
  char state = '?';         // R, S, D, Z (zombie), X (dead), ...
  uint64_t start_time = 0;  // field 22: clock ticks after boot
};

// Parses the text of /proc/<pid>/stat. The comm field (2) is "(name)" where the name may hold
// spaces, parentheses and even ") " sequences, so fields after it are located from the LAST ')'.
Result<ProcStat> parse_proc_stat(std::string_view text);

// Reads /proc/<pid>/stat: kNotFound when there is no such process (or pid <= 0).
Result<ProcStat> read_proc_stat(pid_t pid);

struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;  // 0 = unknown (rows recorded before start times were kept)

  // The identity of the running process `pid` right now; nullopt if it does not exist.
  static std::optional<ProcessIdentity> of(pid_t pid);

  // True while the process recorded as (pid, start_time) still runs: the pid exists, is not a
  // zombie, and has the recorded start time. An unknown start time never verifies.
  bool is_running() const;
};

// A verified handle on a process, for signalling and waiting without pid-reuse races.
class VerifiedProcess {
 public:
  // Opens a pidfd for `id.pid`, then checks the identity: nullopt when the process is gone
  // or the pid now belongs to someone else. Errors only for unexpected pidfd failures.
  static Result<std::optional<VerifiedProcess>> open(const ProcessIdentity& id);

  Status signal(int signo) const;
  // Blocks until the process has exited (a zombie counts) or `timeout` passes; true if exited.
  bool wait_exit(std::chrono::milliseconds timeout) const;

  const ProcessIdentity& identity() const { return id_; }

 private:
  VerifiedProcess(ProcessIdentity id, UniqueFd pidfd) : id_(id), pidfd_(std::move(pidfd)) {}

  ProcessIdentity id_;
  UniqueFd pidfd_;
};

}  // namespace matchlock
