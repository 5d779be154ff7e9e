// The engine's end of the guest's NIC, whichever transport carries its frames: a vhost-user
// virtio-net device served in the owner (VirtioNetLink, what sandboxes use) or a stream of
// length-framed frames (GuestLink, QEMU's `-netdev stream`). The network stack above sees only
// Ethernet frames and whether the guest takes TCP segments larger than its MTU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "core/result.h"

namespace matchlock::net {

class GuestNic {
 public:
  struct Events {
    std::function<void(const uint8_t* frame, size_t len)> on_frame;
    std::function<void(const Error&)> on_closed;  // the transport ended or broke a rule
  };

  virtual ~GuestNic() = default;

  // Queues one frame for the guest. `tcp_segment_size` > 0 marks an IPv4 TCP segment larger than
  // the MTU, which the guest's driver takes whole and its stack treats as segments of that many
  // payload bytes (segmentation offload: only when takes_large_tcp_segments()). Frames are
  // dropped, as a full NIC queue would, when the guest does not keep up: a stalled guest cannot
  // grow the engine's memory without bound.
  virtual void send(const uint8_t* frame, size_t len, uint16_t tcp_segment_size = 0) = 0;
  // Whether the guest's driver accepted TCP segments larger than the MTU.
  virtual bool takes_large_tcp_segments() const = 0;
};

}  // namespace matchlock::net
