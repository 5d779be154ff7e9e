// `matchlock list` (alias `ls`): the sandboxes in the state database, reconciled with /proc so a
// sandbox whose owner died reads "crashed", never "running".
#include <cstdio>
#include <ctime>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/human_time.h"
#include "cli/sandbox_lookup.h"
#include "cli/text_table.h"
#include "state/reconcile.h"

namespace matchlock::cli {

int cmd_list(Args args) {
  ArgParser parser("matchlock list [flags]",
                   "List sandboxes (alias: ls). PID is the owner process of an active sandbox.");
  parser.add_bool("running", '\0', "Only show creating and running sandboxes")
      .add_bool("quiet", 'q', "Only print sandbox ids");
  auto p = parser.parse(args, false);
  if (!p) return fail("list: " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (!p->positionals.empty()) {
    return fail("list: unexpected argument \"" + p->positionals[0] + "\"");
  }

  auto store = open_state();
  if (!store) return fail("list: " + store.error().message, 1);
  auto rows = state::list_reconciled(**store);
  if (!rows) return fail("list: " + rows.error().message, 1);

  const auto now = static_cast<int64_t>(std::time(nullptr));
  std::vector<TableRow> table = {{"ID", "STATUS", "IMAGE", "CREATED", "PID"}};
  for (const auto& row : *rows) {
    if (p->flag("running") && !row.is_active()) continue;
    if (p->flag("quiet")) {
      std::printf("%s\n", row.id.c_str());
      continue;
    }
    // A stopped sandbox's owner pid names a process that is gone (or someone else now).
    const bool show_pid = row.is_active() && row.owner_pid > 0;
    table.push_back({row.id, row.status, row.image, time_ago(row.created_unix, now),
                     show_pid ? std::to_string(row.owner_pid) : "-"});
  }
  if (!p->flag("quiet")) std::fputs(format_table(table).c_str(), stdout);
  return 0;
}

}  // namespace matchlock::cli
