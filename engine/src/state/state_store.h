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

struct SandboxRow {
  std::string id;      // "vm-xxxxxxxx"
  std::string status;  // creating | running | stopped | crashed
  std::string image;
  int64_t owner_pid = 0;  // the process that owns the sandbox (run, rpc)
  int64_t qemu_pid = 0;   // recorded as soon as QEMU is spawned, so gc can reap it
  int64_t created_unix = 0;
  std::string config_json;  // redacted sandbox configuration
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

  // Duplicate id -> kAlreadyExists. created_unix 0 means "now".
  virtual Status insert_sandbox(const SandboxRow& row) = 0;
  // Unknown id -> kNotFound (for both setters).
  virtual Status set_qemu_pid(const std::string& id, int64_t qemu_pid) = 0;
  virtual Status set_status(const std::string& id, const std::string& status) = 0;
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
