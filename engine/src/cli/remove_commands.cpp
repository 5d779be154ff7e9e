// `matchlock rm [-f] ID...` and `matchlock prune`: remove sandboxes that are no longer running
// (state row and $MATCHLOCK_HOME/vms/<id>/). rm -f stops a running one first.
#include <cstdio>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/sandbox_lookup.h"
#include "cli/sandbox_teardown.h"
#include "state/reconcile.h"

namespace matchlock::cli {
namespace {

// Removes one sandbox (stopping it first when forced); returns its full id.
Result<std::string> remove_one(state::StateStore& store, const std::string& id_or_prefix,
                               bool force) {
  auto row = find_sandbox(store, id_or_prefix);
  if (!row) return row.error();
  state::SandboxRow target = *row;
  if (target.is_active()) {
    if (!force) {
      return Error(ErrorCode::kInvalidArgument, "sandbox " + target.id + " is " + target.status +
                                                    "; stop it first or use rm -f");
    }
    auto stopped = stop_sandbox(store, target);
    if (!stopped) return stopped.error();
    if (!stopped->row) return target.id;  // its owner removed it on shutdown (run --rm, rpc)
    target = *stopped->row;
    if (target.is_active()) {
      return Error(ErrorCode::kInternal, "sandbox " + target.id + " is still " + target.status);
    }
  }
  MATCHLOCK_TRY(remove_sandbox(store, target));
  return target.id;
}

}  // namespace

int cmd_remove(Args args) {
  ArgParser parser("matchlock rm [flags] ID...",
                   "Remove stopped or crashed sandboxes: their state and their folder.\n"
                   "A running sandbox is refused unless --force, which stops it first\n"
                   "(SIGTERM to its owner process, SIGKILL after 10 s).");
  parser.add_bool("force", 'f', "Stop running sandboxes before removing them");
  auto p = parser.parse(args, false);
  if (!p) return fail("rm: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.empty()) return fail("rm: expected at least one ID");
  auto store = open_state();
  if (!store) return fail("rm: " + store.error().message, 1);
  int code = 0;
  for (const auto& id : p->positionals) {
    auto removed = remove_one(**store, id, p->flag("force"));
    if (!removed) {
      code = fail("rm: " + removed.error().message, 1);
      continue;
    }
    std::printf("%s\n", removed->c_str());
  }
  return code;
}

int cmd_prune(Args args) {
  ArgParser parser("matchlock prune", "Remove every stopped or crashed sandbox.");
  auto p = parser.parse(args, false);
  if (!p) return fail("prune: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (!p->positionals.empty()) {
    return fail("prune: unexpected argument \"" + p->positionals[0] + "\"");
  }
  auto store = open_state();
  if (!store) return fail("prune: " + store.error().message, 1);
  auto rows = state::list_reconciled(**store);
  if (!rows) return fail("prune: " + rows.error().message, 1);
  int code = 0;
  int removed = 0;
  for (const auto& row : *rows) {
    if (row.is_active()) continue;
    if (auto st = remove_sandbox(**store, row); !st) {
      code = fail("prune: " + st.error().message, 1);
      continue;
    }
    std::printf("Removed %s (%s)\n", row.id.c_str(), row.status.c_str());
    ++removed;
  }
  std::printf("Pruned %d sandbox%s\n", removed, removed == 1 ? "" : "es");
  return code;
}

}  // namespace matchlock::cli
