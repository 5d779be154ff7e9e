#include "cli/sandbox_lookup.h"

#include "core/paths.h"
#include "state/reconcile.h"

namespace matchlock::cli {

Result<std::unique_ptr<state::StateStore>> open_state() {
  return state::StateStore::open(matchlock_home());
}

Result<state::SandboxRow> find_sandbox(state::StateStore& store, const std::string& id_or_prefix) {
  const Error unknown = not_found("no such sandbox: " + id_or_prefix);
  if (id_or_prefix.empty()) return unknown;
  auto exact = state::get_reconciled(store, id_or_prefix);
  if (!exact.ok()) return exact.error();
  if (exact->has_value()) return std::move(**exact);

  auto rows = store.list_sandboxes();
  if (!rows.ok()) return rows.error();
  std::vector<std::string> matches;
  for (const auto& row : *rows) {
    if (row.id.starts_with(id_or_prefix)) matches.push_back(row.id);
  }
  if (matches.empty()) return unknown;
  if (matches.size() > 1) {
    std::string names;
    for (const auto& m : matches) names += (names.empty() ? "" : ", ") + m;
    return invalid_argument("\"" + id_or_prefix + "\" matches several sandboxes: " + names);
  }
  auto row = state::get_reconciled(store, matches[0]);
  if (!row.ok()) return row.error();
  if (!row->has_value()) return unknown;  // removed between the two reads
  return std::move(**row);
}

}  // namespace matchlock::cli
