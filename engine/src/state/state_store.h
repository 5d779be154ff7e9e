// Persistent sandbox state: $MATCHLOCK_HOME/state.db (SQLite, WAL, versioned migrations).
// Never stores secret values: config_json is written by the caller already redacted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::state {

// The values of SandboxRow::status. A row is "active" while its owner is expected to be alive.
namespace status {
inline constexpr const char* kCreating = "creating";
inline constexpr const char* kRunning = "running";
inline constexpr const char* kStopped = "stopped";
inline constexpr const char* kCrashed = "crashed";
}  // namespace status

struct SandboxRow {
  std::string id;      // "vm-xxxxxxxx"
  std::string status;  // creating | running | stopped | crashed
  std::string image;
  int64_t owner_pid = 0;  // the process that owns the sandbox (run, rpc)
  int64_t qemu_pid = 0;   // recorded as soon as QEMU is spawned, so gc can reap it
  // Start times (/proc/<pid>/stat field 22) pin the pids above to one process each, so a
  // recycled pid is never mistaken for the owner or QEMU. 0 = unknown.
  int64_t owner_start_time = 0;
  int64_t qemu_start_time = 0;
  int64_t created_unix = 0;
  std::string config_json;  // redacted sandbox configuration

  bool is_active() const { return status == status::kCreating || status == status::kRunning; }
};

struct LifecycleRow {
  int64_t seq = 0;  // insertion order, strictly increasing
  std::string sandbox_id;
  std::string phase;
  std::string detail;
  int64_t at_unix = 0;
};

// One store per thread: a store wraps one SQLite connection. Other processes may open the
// same database concurrently (WAL, busy timeout 5 s). Errors read "state: <op>: <reason>".
class StateStore {
 public:
  virtual ~StateStore() = default;
  // Opens $home/state.db, creating it and applying pending migrations. Creates `home` (0700)
  // if missing; state.db is kept 0600.
  static Result<std::unique_ptr<StateStore>> open(const std::filesystem::path& home);

  // Duplicate id -> kAlreadyExists. created_unix 0 means "now". owner_start_time 0 with an
  // owner_pid is read from /proc now, so callers need not know about start times.
  virtual Status insert_sandbox(const SandboxRow& row) = 0;
  // Unknown id -> kNotFound (for both setters). A qemu_start_time of 0 is read from /proc now
  // (the caller has just spawned QEMU, so the pid is still its own).
  virtual Status set_qemu_pid(const std::string& id, int64_t qemu_pid,
                              int64_t qemu_start_time = 0) = 0;
  virtual Status set_status(const std::string& id, const std::string& status) = 0;
  // Compare-and-set for reconciliation: moves the sandbox to `new_status` only if its status
  // is still one of `expected`, and records `detail` in its history. Returns whether it moved
  // (false if the owner changed the status meanwhile). Unknown id -> kNotFound.
  virtual Result<bool> transition_status(const std::string& id,
                                         const std::vector<std::string>& expected,
                                         const std::string& new_status,
                                         const std::string& detail) = 0;
  virtual Result<std::optional<SandboxRow>> get_sandbox(const std::string& id) = 0;
  virtual Result<std::vector<SandboxRow>> list_sandboxes() = 0;
  // Deletes the sandbox row and its lifecycle history in one transaction (nothing remains
  // after --rm / rm). Unknown id -> kNotFound.
  virtual Status remove_sandbox(const std::string& id) = 0;
  // Append-only lifecycle history: (sandbox, phase, detail, time). The sandbox row must exist
  // (unknown id -> kNotFound); history lives until remove_sandbox.
  virtual Status append_lifecycle(const std::string& id, const std::string& phase,
                                  const std::string& detail) = 0;
  // The sandbox's history, oldest first (for inspect). Not pure so test fakes need not
  // implement it.
  virtual Result<std::vector<LifecycleRow>> lifecycle(const std::string& id) {
    return Error(ErrorCode::kUnsupported, "state: lifecycle history is not available");
  }
  virtual int schema_version() = 0;
};

}  // namespace matchlock::state
