// Credit-based flow control for one direction of a guest channel stream (see
// guest/channel/protocol.h): the bookkeeping both exec and port streams share. No I/O here; the
// connection turns what these classes decide into frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "guest_protocol/protocol.h"

namespace matchlock::guest_client {

// Host -> guest bytes (fd 0): queued until the guest grants credit, then cut into DATA chunks,
// with the EOF going out only after the last queued byte.
class OutgoingFlow {
 public:
  // Queues bytes; ignored once finish() was called.
  void push(std::string bytes);
  // No more bytes: EOF follows the queued ones.
  void finish();
  // No bytes and no EOF frame either (an exec whose stdin is /dev/null from the start).
  void close_silently();
  bool finishing() const { return finishing_; }

  // Saturates: a hostile guest cannot overflow the counter, only let us send what we have.
  void add_credit(uint32_t bytes);
  // The next chunk that credit allows (at most kMaxDataChunk bytes), or nullopt.
  std::optional<std::string> take_chunk();
  // True exactly once: when the queue is empty after finish() and EOF must be sent.
  bool take_eof();

  // Bytes accepted but not yet sent (waiting for credit).
  size_t backlog() const { return queued_bytes_; }

 private:
  std::deque<std::string> queue_;
  size_t queued_bytes_ = 0;
  uint32_t credit_ = guest_protocol::kInitialCredit;
  bool finishing_ = false;
  bool eof_sent_ = false;
};

// Guest -> host bytes of one fd: every byte must fit in the credit the host granted, and nothing
// may follow EOF. A violation is the guest's fault and closes the channel.
class IncomingFlow {
 public:
  // A flow the guest may not use at all (fd 0, a tty exec's stderr, a port stream's fd 2).
  static IncomingFlow unused();

  // Counts `bytes` received; false when they exceed the granted credit or follow EOF.
  [[nodiscard]] bool accept(size_t bytes);
  // The host consumed `bytes`: the guest may send that many more.
  void grant(uint32_t bytes) { granted_ += bytes; }
  // Records EOF; false if it was already recorded (a duplicate, harmless).
  bool end();
  bool ended() const { return ended_; }

 private:
  uint64_t granted_ = guest_protocol::kInitialCredit;
  uint64_t received_ = 0;
  bool ended_ = false;
};

}  // namespace matchlock::guest_client
