// `matchlock get ID` and `matchlock inspect ID`: one sandbox's state row as JSON; inspect adds
// the recorded (redacted) configuration, process details and the lifecycle history.
#include <cstdio>
#include <string>
#include <variant>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/sandbox_json.h"
#include "cli/sandbox_lookup.h"
#include "state/reconcile.h"

namespace matchlock::cli {
namespace {

// Parses `NAME ID`; returns the id, or the exit code to leave with (help or a usage error).
std::variant<std::string, int> single_id(const char* name, const char* summary, Args args) {
  ArgParser parser(std::string("matchlock ") + name + " ID", summary);
  auto p = parser.parse(args, false);
  if (!p) return fail(std::string(name) + ": " + p.error().message);
  if (p->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (p->positionals.size() != 1) return fail(std::string(name) + ": expected exactly one ID");
  return p->positionals[0];
}

}  // namespace

int cmd_get(Args args) {
  auto id = single_id("get", "Print a sandbox's state as JSON.", args);
  if (auto* code = std::get_if<int>(&id)) return *code;
  auto store = open_state();
  if (!store) return fail("get: " + store.error().message, 1);
  auto row = find_sandbox(**store, std::get<std::string>(id));
  if (!row) return fail("get: " + row.error().message, 1);
  std::fputs(sandbox_summary_json(*row).c_str(), stdout);
  return 0;
}

int cmd_inspect(Args args) {
  auto id =
      single_id("inspect",
                "Print a sandbox's recorded configuration (secret values are never recorded), its\n"
                "processes and its lifecycle history as JSON.",
                args);
  if (auto* code = std::get_if<int>(&id)) return *code;
  auto store = open_state();
  if (!store) return fail("inspect: " + store.error().message, 1);
  auto row = find_sandbox(**store, std::get<std::string>(id));
  if (!row) return fail("inspect: " + row.error().message, 1);
  auto history = (*store)->lifecycle(row->id);
  if (!history) return fail("inspect: " + history.error().message, 1);
  ProcessLiveness alive{state::owner_alive(*row), state::qemu_identity(*row).is_running()};
  std::fputs(sandbox_inspect_json(*row, *history, alive).c_str(), stdout);
  return 0;
}

}  // namespace matchlock::cli
