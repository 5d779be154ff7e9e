// budget_gate: stops LLM spending at a limit. Once the usage log's spend (usage_ledger.h:
// every cost_usd the providers reported, including what an earlier run appended to the same
// log) is at or over budget_limit_usd, every further HTTP request is denied in the gate phase
// with 429, before anything leaves the host. Only HTTP requests: a connection-level denial
// (TLS, raw TCP, DNS) would reach the guest as a reset instead of an answer it can read.
//
// The spend only counts calls whose provider reported a cost (usage.cost); calls without one
// cost nothing here. Requests already in flight when the limit is crossed complete.
#pragma once

#include <memory>

#include "core/result.h"
#include "net/policy/plugin.h"
#include "net/policy/usage_ledger.h"

namespace matchlock::net::policy {

struct PluginContext;

class BudgetGate : public Plugin {
 public:
  BudgetGate(std::shared_ptr<const UsageLedger> ledger, double limit_usd)
      : ledger_(std::move(ledger)), limit_usd_(limit_usd) {}

  std::string_view name() const override { return "budget_gate"; }
  GateResult gate(const Request& request) override;

 private:
  std::shared_ptr<const UsageLedger> ledger_;
  double limit_usd_;
};

// kInvalidArgument when the limit is negative or not finite, or there is no usage log.
Result<std::unique_ptr<Plugin>> make_budget_gate(const PluginContext& context);

}  // namespace matchlock::net::policy
