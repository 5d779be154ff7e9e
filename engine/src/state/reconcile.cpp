#include "state/reconcile.h"

namespace matchlock::state {

ProcessIdentity owner_identity(const SandboxRow& row) {
  return {static_cast<pid_t>(row.owner_pid), static_cast<uint64_t>(row.owner_start_time)};
}

ProcessIdentity qemu_identity(const SandboxRow& row) {
  return {static_cast<pid_t>(row.qemu_pid), static_cast<uint64_t>(row.qemu_start_time)};
}

bool owner_alive(const SandboxRow& row) {
  const ProcessIdentity owner = owner_identity(row);
  if (owner.start_time != 0) return owner.is_running();
  return ProcessIdentity::of(owner.pid).has_value();
}

Result<std::optional<SandboxRow>> reconcile(StateStore& store, SandboxRow row) {
  if (!row.is_active() || owner_alive(row)) return std::optional<SandboxRow>(std::move(row));
  const std::string detail = "owner process " + std::to_string(row.owner_pid) + " is gone";
  auto moved = store.transition_status(row.id, {status::kCreating, status::kRunning},
                                       status::kCrashed, detail);
  if (!moved.ok()) {
    if (moved.error().code == ErrorCode::kNotFound) return std::optional<SandboxRow>();
    return moved.error();
  }
  if (*moved) {
    row.status = status::kCrashed;
    return std::optional<SandboxRow>(std::move(row));
  }
  // The owner wrote a final status just before dying (or we raced another reader): use it.
  return store.get_sandbox(row.id);
}

Result<std::optional<SandboxRow>> get_reconciled(StateStore& store, const std::string& id) {
  auto row = store.get_sandbox(id);
  if (!row.ok() || !row->has_value()) return row;
  return reconcile(store, std::move(**row));
}

Result<std::vector<SandboxRow>> list_reconciled(StateStore& store) {
  auto rows = store.list_sandboxes();
  if (!rows.ok()) return rows.error();
  std::vector<SandboxRow> out;
  for (auto& row : *rows) {
    auto fixed = reconcile(store, std::move(row));
    if (!fixed.ok()) return fixed.error();
    if (fixed->has_value()) out.push_back(std::move(**fixed));
  }
  return out;
}

}  // namespace matchlock::state
