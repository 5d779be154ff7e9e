// How many bytes of large replies (buffered `exec` output, `read_file` content) one owner process
// holds at once, across every call of every client. A reply's bytes count from the moment they
// arrive from the guest until its line has been written to the client, so neither many
// concurrent calls nor a client that does not read its replies can grow the engine without
// bound. Buffered exec output that does not fit is dropped and its result says so
// (stdout_truncated); a read_file's content waits for room before its line is built. The same
// class counts the reads in flight: what a read holds before it knows its size is bounded by
// how many may run at once, not reserved up front (which would starve small execs' output).
#pragma once

#include <cstddef>
#include <deque>
#include <functional>

namespace matchlock::rpc {

class OutputBudget {
 public:
  explicit OutputBudget(size_t limit) : limit_(limit) {}

  // Grants up to `want` bytes at once (possibly 0) from what is free, waiting acquire()s or
  // not; the caller gives them back when it lets them go. Never waits.
  size_t take(size_t want);
  // Runs `granted` once `bytes` (capped at the limit) are free, in request order: at once when
  // nothing waits and they fit. The caller then holds them until it gives them back.
  void acquire(size_t bytes, std::function<void()> granted);
  void give_back(size_t bytes);

  size_t used() const { return used_; }
  size_t limit() const { return limit_; }
  size_t waiting() const { return waiters_.size(); }

 private:
  struct Waiter {
    size_t bytes;
    std::function<void()> granted;
  };
  void grant_waiters();

  size_t limit_;
  size_t used_ = 0;
  std::deque<Waiter> waiters_;
  bool granting_ = false;  // grant_waiters() is on the stack (a grant may give bytes back)
};

// The owner process's budget (all on the loop thread). 128 MiB: two full buffered streams; with
// base64 on the wire, the replies it covers hold at most ~171 MiB of lines.
OutputBudget& reply_payload_budget();
// How many read_file calls may be reading from the guest at once (each up to 16 MiB not yet
// counted in the budget above): 4.
OutputBudget& file_reads_in_flight();

}  // namespace matchlock::rpc
