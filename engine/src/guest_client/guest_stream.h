// What every multiplexed stream on the guest channel shares (exec, port and file streams): its
// id, its connection, whether it is over, and the credit bookkeeping of both directions.
// GuestConnection reads and writes this state; the derived handles add their frames and events.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "guest_client/stream_flow.h"
#include "guest_protocol/protocol.h"

namespace matchlock::guest_client {

class GuestConnection;

class GuestStream {
 public:
  virtual ~GuestStream() = default;
  GuestStream(const GuestStream&) = delete;
  GuestStream& operator=(const GuestStream&) = delete;

  uint32_t stream_id() const { return stream_; }
  // True once the stream is over (its last frame arrived, the host closed it, or the channel
  // was lost); every method is then a no-op.
  bool finished() const { return finished_; }

 protected:
  enum class Kind { kExec, kPort, kFile };
  explicit GuestStream(Kind kind) : kind_(kind) {}

  // Host -> guest bytes on fd 0, sent as credit allows.
  void queue_bytes(std::string bytes);
  void queue_eof();
  size_t queued_bytes() const { return to_guest_.backlog(); }
  // Called after a pump that sent bytes and emptied the queue.
  std::function<void()> on_drained_;

 private:
  friend class GuestConnection;

  // Guest -> host traffic, checked by the connection before it gets here. `consumed` returns
  // the bytes' credit to the guest.
  virtual void deliver_bytes(guest_protocol::StreamFd fd, std::string_view bytes,
                             std::function<void()> consumed) = 0;
  virtual void deliver_eof(guest_protocol::StreamFd fd) = 0;
  // The stream ended because the channel was lost or closed.
  virtual void deliver_lost(const Error& reason) = 0;
  // Whether the guest may send DATA/EOF yet (a port stream: only after PORT_OPENED).
  virtual bool accepts_output() const { return true; }

 protected:
  Kind kind_;
  std::weak_ptr<GuestConnection> conn_;
  uint32_t stream_ = 0;
  bool finished_ = false;
  OutgoingFlow to_guest_;
  std::array<IncomingFlow, 3> from_guest_ = {IncomingFlow::unused(), IncomingFlow(),
                                             IncomingFlow()};
};

}  // namespace matchlock::guest_client
