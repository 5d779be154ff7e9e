// `matchlock gc [ID] [--force-running]`: makes the state database and the host agree again.
// Dead owners are recorded as crashed, a QEMU that outlived its owner is killed (only if its
// recorded pid and start time still match), leftover sockets and disks of non-running
// sandboxes are deleted (logs stay for inspect/rm), and folders under vms/ without a state row
// are removed. Running sandboxes are left alone unless --force-running. Without an ID, what
// killed builds and disk makers left in the cache goes too.
#include <cstdio>
#include <set>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/sandbox_lookup.h"
#include "cli/sandbox_teardown.h"
#include "core/paths.h"
#include "core/remove_tree.h"
#include "dockerbuild/build_leftovers.h"
#include "sandbox/empty_upper_disk.h"
#include "state/reconcile.h"

namespace matchlock::cli {
namespace {

// A folder without a row younger than this may belong to a sandbox being created right now.
constexpr std::chrono::seconds kOrphanMinAge{60};

void say(const std::string& id, const std::string& what) {
  std::printf("%s: %s\n", id.c_str(), what.c_str());
}

const char* describe(Termination t) {
  switch (t) {
    case Termination::kNotRunning:
      return "owner already gone";
    case Termination::kExitedOnTerm:
      return "owner stopped on SIGTERM";
    case Termination::kKilled:
      return "owner killed with SIGKILL";
  }
  return "";
}

// Reconciles and cleans one sandbox, printing one line per thing done.
Status collect_one(state::StateStore& store, const state::SandboxRow& recorded,
                   bool force_running) {
  const std::string& id = recorded.id;
  auto reconciled = state::reconcile(store, recorded);
  if (!reconciled) return reconciled.error();
  if (!reconciled->has_value()) return {};  // removed meanwhile
  state::SandboxRow row = **reconciled;
  if (recorded.is_active() && !row.is_active()) {
    say(id,
        "marked " + row.status + " (owner process " + std::to_string(row.owner_pid) + " is gone)");
  }
  if (row.is_active()) {
    if (!force_running) {
      say(id, "skipped (" + row.status + "; use --force-running to stop it)");
      return {};
    }
    auto stopped = stop_sandbox(store, row);
    if (!stopped) return stopped.error();
    say(id, describe(stopped->owner));
    if (!stopped->row) {
      say(id, "removed by its owner on shutdown");
      return {};
    }
    row = *stopped->row;
  }
  bool cleaned = false;
  auto qemu = reap_leftover_qemu(row);
  if (!qemu) return qemu.error().with_context(id);
  if (*qemu == Termination::kKilled) {
    say(id, "killed leftover QEMU (pid " + std::to_string(row.qemu_pid) + ")");
    cleaned = true;
  }
  auto files = remove_leftover_files(sandbox_dir(id));
  if (!files) return files.error().with_context(id);
  if (!files->empty()) {
    std::string names;
    for (const auto& f : *files) names += (names.empty() ? "" : ", ") + f;
    say(id, "removed " + names);
    cleaned = true;
  }
  if (!cleaned && recorded.status == row.status) say(id, "nothing to clean (" + row.status + ")");
  return {};
}

// Removes folders under vms/ that have no state row (`only`: just that name). Returns the
// number of failures, each already printed.
int collect_orphans(state::StateStore& store, const std::string& only) {
  auto rows = store.list_sandboxes();
  if (!rows) {
    fail("gc: " + rows.error().message, 1);
    return 1;
  }
  std::set<std::string> known;
  for (const auto& r : *rows) known.insert(r.id);
  const auto vms = matchlock_home() / "vms";
  int failures = 0;
  bool only_seen = false;
  for (const auto& name : orphan_folders(vms, known, kOrphanMinAge)) {
    if (!only.empty() && name != only) continue;
    only_seen = true;
    std::error_code ec;
    remove_tree(vms / name, ec);
    if (ec) {
      fail("gc: remove " + (vms / name).string() + ": " + ec.message(), 1);
      ++failures;
      continue;
    }
    say(name, "removed folder without a state row");
  }
  if (!only.empty() && !only_seen && !known.contains(only)) {
    say(only, "skipped (folder changed less than a minute ago; a sandbox may be starting)");
  }
  return failures;
}

}  // namespace

int cmd_gc(Args args) {
  ArgParser parser(
      "matchlock gc [flags] [ID]",
      "Reconcile recorded sandboxes with the host: mark sandboxes whose owner died as crashed,\n"
      "kill a QEMU that outlived its owner, delete leftover sockets and disks of sandboxes that\n"
      "are not running, and remove folders under $MATCHLOCK_HOME/vms with no recorded sandbox\n"
      "(older than a minute). Running sandboxes are skipped unless --force-running.");
  parser.add_bool("force-running", '\0', "Also stop running sandboxes, then clean them up");
  auto p = parser.parse(args, false);
  if (!p) return fail("gc: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.size() > 1) return fail("gc: expected at most one ID");
  auto store = open_state();
  if (!store) return fail("gc: " + store.error().message, 1);
  const bool force = p->flag("force-running");

  std::vector<state::SandboxRow> rows;
  std::string only_orphan;
  if (p->positionals.size() == 1) {
    const std::string& id = p->positionals[0];
    auto row = find_sandbox(**store, id);
    if (row) {
      rows.push_back(*row);
    } else if (row.error().code == ErrorCode::kNotFound && id.find('/') == std::string::npos &&
               id != "." && id != ".." && std::filesystem::exists(sandbox_dir(id))) {
      only_orphan = id;
    } else {
      return fail("gc: " + row.error().message, 1);
    }
  } else {
    auto all = (*store)->list_sandboxes();
    if (!all) return fail("gc: " + all.error().message, 1);
    rows = std::move(*all);
  }

  int code = 0;
  for (const auto& row : rows) {
    if (auto st = collect_one(**store, row, force); !st)
      code = fail("gc: " + st.error().message, 1);
  }
  if (p->positionals.empty() || !only_orphan.empty()) {
    if (collect_orphans(**store, only_orphan) > 0) code = 1;
  }
  if (p->positionals.empty()) {
    // Scratch space of builds that were killed before they could clean up.
    auto removed = [](const std::filesystem::path& dir) {
      std::printf("build scratch %s: removed (its build is gone)\n", dir.filename().c_str());
    };
    if (dockerbuild::remove_dead_build_scratch(dockerbuild::scratch_root(), removed) > 0) {
      code = fail("gc: could not remove every dead build's scratch directory", 1);
    }
    // Half-made empty writable disks of boots that were killed while making one.
    auto removed_disk = [](const std::filesystem::path& file) {
      std::printf("disk cache %s: removed (its maker is gone)\n", file.filename().c_str());
    };
    if (sandbox::remove_dead_makers_leftovers(sandbox::empty_upper_disk_cache(), removed_disk) >
        0) {
      code = fail("gc: could not remove every half-made cached disk", 1);
    }
  }
  std::printf("Reconciled %zu sandbox%s\n", rows.size(), rows.size() == 1 ? "" : "es");
  return code;
}

}  // namespace matchlock::cli
