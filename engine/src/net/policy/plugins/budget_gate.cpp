#include "net/policy/plugins/budget_gate.h"

#include <cmath>
#include <cstdio>

#include "net/policy/plugin_registry.h"

namespace matchlock::net::policy {
namespace {

std::string dollars(double amount) {
  char text[64];
  std::snprintf(text, sizeof text, "$%.4f", amount);
  return text;
}

}  // namespace

GateResult BudgetGate::gate(const Request& request) {
  if (request.protocol != Protocol::kHttp) return Continue{};
  double spent = ledger_->spent_usd();
  if (spent < limit_usd_) return Continue{};
  return Deny{"budget exhausted: " + dollars(spent) + " spent of " + dollars(limit_usd_) +
                  " (usage log " + ledger_->path() + ")",
              429};
}

Result<std::unique_ptr<Plugin>> make_budget_gate(const PluginContext& context) {
  const auto& limit = context.config.settings.budget_limit_usd;
  if (!limit) return std::unique_ptr<Plugin>();
  if (!std::isfinite(*limit) || *limit < 0) {
    return invalid_argument("the budget limit must be a non-negative number of dollars");
  }
  if (!context.usage) {
    return invalid_argument("a budget limit needs a usage log (--usage-log) to count spend in");
  }
  return std::unique_ptr<Plugin>(std::make_unique<BudgetGate>(context.usage, *limit));
}

}  // namespace matchlock::net::policy
