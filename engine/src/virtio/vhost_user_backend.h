// The backend ("slave") side of the vhost-user protocol, on the libuv loop: QEMU (the
// front-end) hands over the guest's RAM (memfds), the rings' addresses and the kick/call
// eventfds over a unix socket; the device's queues are then served here, in the owner process,
// without QEMU in the data path. Messages: a 12-byte header (request, flags, size) and a
// payload, file descriptors alongside (SCM_RIGHTS).
//
// Offered: VIRTIO_F_VERSION_1, VHOST_USER_F_PROTOCOL_FEATURES, VHOST_F_LOG_ALL and the device's
// own feature bits; protocol features REPLY_ACK, MQ, LOG_SHMFD and (with a DeviceState)
// DEVICE_STATE. No backend requests, no config space, no inflight. Two devices use it: virtio-fs
// (vfs/vfs_service) and virtio-net (net/link/virtio_net_link).
//
// Migration: only a stopped guest is saved (QMP stop first), so nothing is written to guest
// memory while QEMU copies it and dirty logging is never needed. VHOST_F_LOG_ALL and LOG_SHMFD
// are offered only because QEMU (hw/virtio/vhost.c, vhost-user.c) blocks migration without
// them (a device whose state QEMU keeps, as virtio-net's, needs nothing more; virtio-fs also
// needs DEVICE_STATE); an actual request to log (SET_LOG_BASE, SET_LOG_FD, SET_FEATURES with
// LOG_ALL) is refused loudly: nacked when QEMU asked for an answer, the channel closed when it did
// not (QEMU would otherwise believe we log). The device's own state crosses over
// SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE (phase "stopped" only), as bytes DeviceState produces
// and checks.
//
// THREAT MODEL: QEMU runs the guest and may be subverted by it; every message is checked
// (sizes, indices, fd counts). A malformed message ends the channel; unknown requests get an
// error reply when one is expected.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"
#include "virtio/virtqueue.h"

namespace matchlock::virtio {

// A chain handed to the device and how to give it back. `generation` tells a completion for a
// ring that has since been stopped (it is then dropped).
struct ChainRef {
  uint32_t queue = 0;
  uint64_t generation = 0;
  DescriptorChain chain;
};

// How much of a chain the backend reads for the device: at most `max_readable` readable bytes
// (a larger request is a bad chain), of which the first `inline_readable` are copied into
// chain.readable and the rest left in place (chain.readable_rest).
struct ChainLimits {
  size_t max_readable = 0;
  size_t inline_readable = SIZE_MAX;
};

// What the device saves and restores when QEMU migrates it. Both run on the loop.
struct DeviceState {
  // The bytes that describe the device now (at most kMaxDeviceStateBytes), or why the device
  // cannot be saved (the save then fails in QEMU).
  std::function<Result<std::string>()> save;
  // Checks and applies bytes a save produced. They come from a file QEMU read: untrusted.
  std::function<matchlock::Status(std::string_view bytes)> load;
};
// Device state is tiny: anything larger is refused (and never buffered past this).
inline constexpr size_t kMaxDeviceStateBytes = 4096;

// Each valid chain popped from a queue; the device completes it (now or later) with
// complete(). Chains that break a rule never get here: they go back to the guest empty.
using OnChain = std::function<void(ChainRef chain)>;

// The device a backend serves.
struct VhostUserDevice {
  std::string name;     // in warnings: "virtio-fs", "virtio-net"
  uint32_t queues = 1;  // the device's virtqueue count (1 to 64)
  // Device feature bits offered besides the transport's (VERSION_1, PROTOCOL_FEATURES,
  // LOG_ALL); the driver's choice among them is features() once QEMU passes it on.
  uint64_t features = 0;
  ChainLimits limits;
  // Every chain of these queues goes to on_chain as soon as the guest makes it available.
  OnChain on_chain;
  // Queues (a bit each) whose chains the device takes itself, one at a time, when it has
  // something to put in them (take()): a NIC's receive queue. Their buffers stay in the guest's
  // ring until used, so a stopped ring (a save) never reports one as taken but unused.
  // `on_available` tells that the guest made buffers available in one of them.
  uint64_t on_demand_queues = 0;
  std::function<void(uint32_t queue)> on_available;
  std::function<void(const Error&)> on_lost;
  // The device's own state, for a save. Empty: DEVICE_STATE is not offered, so QEMU migrates
  // the device only if it keeps the device's state itself (virtio-net; not virtio-fs).
  DeviceState device_state;
};

class VhostUserBackend {
 public:
  static Result<std::unique_ptr<VhostUserBackend>> start(uv_loop_t* loop, UniqueFd socket,
                                                         VhostUserDevice device);
  virtual ~VhostUserBackend() = default;

  // Writes `reply` into the chain's writable buffers and returns it to the guest with that
  // length plus `placed`: bytes the device already wrote in place right after `reply` (see
  // memory()). False when they do not fit (nothing written, the chain is still pending:
  // complete it again with something smaller); true otherwise, including when the chain's ring
  // has been stopped or broken since (then it is dropped).
  // `interrupt` false: the guest is not interrupted now; interrupt() does it once for many.
  virtual bool complete(const ChainRef& chain, std::string_view reply, size_t placed = 0,
                        bool interrupt = true) = 0;
  // Returns chains of one queue together, each with `placed[i]` bytes the device already wrote
  // in place: the guest sees all of them at once, in this order. Chains of a ring stopped since
  // are dropped; a count beyond a chain's room returns it empty.
  virtual void complete_together(std::span<const ChainRef> chains, std::span<const size_t> placed,
                                 bool interrupt = true) = 0;
  // The next valid chain of an on-demand queue, or nullopt when it has none (or is stopped).
  virtual std::optional<ChainRef> take(uint32_t queue) = 0;
  // Returns the last `count` chains take() gave for `queue`, unused, to the guest's available
  // ring as if never taken. Only chains taken since the queue's last completion qualify (false,
  // and nothing changes, otherwise).
  virtual bool give_back(uint32_t queue, size_t count) = 0;
  // Interrupts the guest for `queue`'s used buffers, unless the guest said it does not want
  // one now (it polls).
  virtual void interrupt(uint32_t queue) = 0;
  // The device feature bits the driver accepted (0 until QEMU passes them on).
  virtual uint64_t features() const = 0;
  // The guest's RAM as mapped now, to use a chain's buffers in place (Virtqueue::map). Only
  // until the loop runs again: QEMU may send a new memory table then.
  virtual const GuestMemory& memory() const = 0;
  virtual void close() = 0;
};

}  // namespace matchlock::virtio
