// The usage log and the spend it adds up to, shared by usage_logger (which appends one JSON
// line per completed LLM call) and budget_gate (which reads the running total). One ledger
// per sandbox, on the loop thread.
//
// Spend survives restarts: opening a ledger on an existing log adds up the cost_usd of every
// line already in it, so a sandbox restarted with the same --usage-log keeps its budget. The
// file is the user's; lines that are not JSON objects or carry no numeric cost_usd count 0
// (a hand-edited log never stops a sandbox from starting).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/append_file.h"
#include "core/result.h"

namespace matchlock::net::policy {

struct UsageRecord {
  std::string host;
  std::string model;  // "" when the exchange named none
  std::optional<int64_t> prompt_tokens;
  std::optional<int64_t> completion_tokens;
  std::optional<int64_t> total_tokens;
  std::optional<double> cost_usd;  // only what the provider reported (usage.cost)
};

class UsageLedger {
 public:
  // A log line is at most this long; reading an existing log, longer lines are skipped.
  static constexpr size_t kMaxLineBytes = 64 * 1024;

  // Creates the file (0600) or reads the spend already in it. kIo when it cannot be opened.
  static Result<std::shared_ptr<UsageLedger>> open(const std::string& path);

  // Appends {"ts","host","model","prompt_tokens","completion_tokens","total_tokens",
  // "cost_usd"} (absent numbers are null) in one write(2), and adds cost_usd to the total.
  void record(const UsageRecord& record, std::chrono::system_clock::time_point time);

  double spent_usd() const { return spent_usd_; }
  const std::string& path() const { return file_.path(); }

  // The JSON line for `record`, newline included.
  static std::string format_line(const UsageRecord& record,
                                 std::chrono::system_clock::time_point time);

 private:
  UsageLedger(AppendFile file, double spent) : file_(std::move(file)), spent_usd_(spent) {}
  void write_line(const std::string& line);  // one write(2); O_APPEND keeps lines whole

  AppendFile file_;
  double spent_usd_;
};

}  // namespace matchlock::net::policy
