#include "rpc/output_budget.h"

#include <algorithm>
#include <utility>

namespace matchlock::rpc {

size_t OutputBudget::take(size_t want) {
  size_t granted = std::min(want, limit_ - used_);
  used_ += granted;
  return granted;
}

void OutputBudget::acquire(size_t bytes, std::function<void()> granted) {
  waiters_.push_back({std::min(bytes, limit_), std::move(granted)});
  grant_waiters();
}

void OutputBudget::give_back(size_t bytes) {
  used_ -= std::min(bytes, used_);
  grant_waiters();
}

void OutputBudget::grant_waiters() {
  if (granting_) return;  // the outer loop sees what a grant gave back
  granting_ = true;
  while (!waiters_.empty() && waiters_.front().bytes <= limit_ - used_) {
    Waiter w = std::move(waiters_.front());
    waiters_.pop_front();
    used_ += w.bytes;
    w.granted();
  }
  granting_ = false;
}

OutputBudget& reply_payload_budget() {
  static OutputBudget budget(128u * 1024 * 1024);
  return budget;
}

OutputBudget& file_reads_in_flight() {
  static OutputBudget reads(4);
  return reads;
}

}  // namespace matchlock::rpc
