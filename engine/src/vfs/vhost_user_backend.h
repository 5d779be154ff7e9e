// The backend ("slave") side of the vhost-user protocol, on the libuv loop: QEMU (the
// front-end) hands over the guest's RAM (memfds), the rings' addresses and the kick/call
// eventfds over a unix socket; the device's queues are then served here, in the owner process,
// without QEMU in the data path. Messages: a 12-byte header (request, flags, size) and a
// payload, file descriptors alongside (SCM_RIGHTS).
//
// Offered: VIRTIO_F_VERSION_1, VHOST_USER_F_PROTOCOL_FEATURES and VHOST_F_LOG_ALL; protocol
// features REPLY_ACK, MQ and (with a DeviceState) DEVICE_STATE and LOG_SHMFD. No backend
// requests, no config space, no inflight.
//
// Migration: only a stopped guest is saved (QMP stop first), so nothing is written to guest
// memory while QEMU copies it and dirty logging is never needed. VHOST_F_LOG_ALL and LOG_SHMFD
// are offered only because QEMU (hw/virtio/vhost.c, vhost-user.c) blocks migration without
// them; an actual request to log (SET_LOG_BASE, SET_LOG_FD, SET_FEATURES with LOG_ALL) is
// refused loudly: nacked when QEMU asked for an answer, the channel closed when it did not
// (QEMU would otherwise believe we log).
// The device's own state crosses over SET_DEVICE_STATE_FD / CHECK_DEVICE_STATE (phase
// "stopped" only), as bytes DeviceState produces and checks.
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
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"
#include "vfs/virtqueue.h"

namespace matchlock::vfs {

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

class VhostUserBackend {
 public:
  // Each valid chain popped from any queue; the device completes it (now or later) with
  // complete(). Chains that break a rule never get here: they go back to the guest empty.
  using OnChain = std::function<void(ChainRef chain)>;

  // `queues`: the device's virtqueue count (virtio-fs: hiprio + request queues).
  // `limits`: see ChainLimits. `device_state` empty (no save/load): DEVICE_STATE is not
  // offered, so QEMU refuses to migrate the device.
  static Result<std::unique_ptr<VhostUserBackend>> start(uv_loop_t* loop, UniqueFd socket,
                                                         uint32_t queues, ChainLimits limits,
                                                         OnChain on_chain,
                                                         std::function<void(const Error&)> on_lost,
                                                         DeviceState device_state = {});
  virtual ~VhostUserBackend() = default;

  // Writes `reply` into the chain's writable buffers and returns it to the guest with that
  // length plus `placed`: bytes the device already wrote in place right after `reply` (see
  // memory()). False when they do not fit (nothing written, the chain is still pending:
  // complete it again with something smaller); true otherwise, including when the chain's ring
  // has been stopped or broken since (then it is dropped).
  virtual bool complete(const ChainRef& chain, std::string_view reply, size_t placed = 0) = 0;
  // The guest's RAM as mapped now, to use a chain's buffers in place (Virtqueue::map). Only
  // until the loop runs again: QEMU may send a new memory table then.
  virtual const GuestMemory& memory() const = 0;
  virtual void close() = 0;
};

}  // namespace matchlock::vfs
