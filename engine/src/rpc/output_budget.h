// How much buffered `exec` output one owner process holds at once, across every call of every
// client: each buffered exec keeps at most ExecCall::kMaxBufferedOutput per stream, and all of
// them together at most the budget's limit, so concurrent execs cannot grow the engine without
// bound. What does not fit is dropped and the exec's result says so (stdout_truncated).
#pragma once

#include <algorithm>
#include <cstddef>

namespace matchlock::rpc {

class OutputBudget {
 public:
  explicit OutputBudget(size_t limit) : limit_(limit) {}

  // Grants up to `want` bytes (possibly 0); the caller gives them back when it lets them go.
  size_t take(size_t want) {
    size_t granted = std::min(want, limit_ - used_);
    used_ += granted;
    return granted;
  }
  void give_back(size_t bytes) { used_ -= std::min(bytes, used_); }
  size_t used() const { return used_; }

 private:
  size_t limit_;
  size_t used_ = 0;
};

// The owner process's budget (all on the loop thread). 256 MiB: four full buffered streams.
inline OutputBudget& buffered_output_budget() {
  static OutputBudget budget(256u * 1024 * 1024);
  return budget;
}

}  // namespace matchlock::rpc
