#include "cli/sandbox_teardown.h"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>

#include "core/paths.h"
#include "core/remove_tree.h"
#include "state/reconcile.h"

namespace matchlock::cli {
namespace {

constexpr std::chrono::milliseconds kQemuKillWait{5000};

bool is_disk_image(const std::filesystem::path& name) {
  const auto ext = name.extension();
  return ext == ".ext4" || ext == ".qcow2" || ext == ".img" || ext == ".raw";
}

}  // namespace

Result<StopReport> stop_sandbox(state::StateStore& store, const state::SandboxRow& row,
                                TerminationTimeouts timeouts) {
  StopReport report;
  if (row.owner_start_time == 0 && state::owner_alive(row)) {
    return Error(ErrorCode::kUnsupported,
                 "cannot verify the owner of " + row.id + " (pid " + std::to_string(row.owner_pid) +
                     " was recorded without a start time); stop that process yourself");
  }
  auto owner = terminate_verified(state::owner_identity(row), timeouts);
  if (!owner.ok()) return owner.error().with_context("stop " + row.id + ": owner");
  report.owner = *owner;
  auto qemu = reap_leftover_qemu(row);
  if (!qemu.ok()) return qemu.error().with_context("stop " + row.id);
  report.qemu = *qemu;
  auto now = state::get_reconciled(store, row.id);
  if (!now.ok()) return now.error();
  report.row = std::move(*now);
  return report;
}

Result<Termination> reap_leftover_qemu(const state::SandboxRow& row) {
  auto killed = kill_verified(state::qemu_identity(row), kQemuKillWait);
  if (!killed.ok()) return killed.error().with_context("QEMU");
  return killed;
}

Status remove_sandbox(state::StateStore& store, const state::SandboxRow& row) {
  if (row.is_active()) {
    return Error(ErrorCode::kInternal, "remove " + row.id + ": the sandbox is " + row.status);
  }
  if (auto q = reap_leftover_qemu(row); !q.ok()) {
    return q.error().with_context("remove " + row.id);
  }
  std::error_code ec;
  remove_tree(sandbox_dir(row.id), ec);
  if (ec) return io_error("remove " + sandbox_dir(row.id).string() + ": " + ec.message());
  auto st = store.remove_sandbox(row.id);
  if (!st.ok() && st.error().code != ErrorCode::kNotFound) return st;
  return {};
}

Result<std::vector<std::string>> remove_leftover_files(const std::filesystem::path& dir) {
  std::vector<std::string> removed;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec == std::errc::no_such_file_or_directory) return removed;
  if (ec) return io_error(dir.string() + ": " + ec.message());
  for (const auto& entry : it) {
    const auto type = entry.symlink_status(ec).type();
    if (ec) continue;  // vanished meanwhile
    const bool leftover =
        type == std::filesystem::file_type::socket ||
        (type == std::filesystem::file_type::regular && is_disk_image(entry.path().filename()));
    if (!leftover) continue;
    if (!std::filesystem::remove(entry.path(), ec) && ec) {
      return io_error("remove " + entry.path().string() + ": " + ec.message());
    }
    removed.push_back(entry.path().filename().string());
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

std::vector<std::string> orphan_folders(const std::filesystem::path& vms_dir,
                                        const std::set<std::string>& known_ids,
                                        std::chrono::seconds min_age) {
  std::vector<std::string> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(vms_dir, ec);
  if (ec) return out;
  const auto now = static_cast<int64_t>(std::time(nullptr));
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (known_ids.contains(name)) continue;
    struct stat st {};
    if (::lstat(entry.path().c_str(), &st) != 0) continue;
    if (now - static_cast<int64_t>(st.st_mtime) < min_age.count()) continue;
    out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace matchlock::cli
