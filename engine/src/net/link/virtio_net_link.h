// The guest NIC as a virtio-net device the engine serves itself over vhost-user (virtio 1.x,
// 5.1): QEMU hands over the guest's RAM and the NIC's two rings (0 receive, 1 transmit), and
// frames cross between the guest's buffers and lwIP on the owner's loop, QEMU out of the data
// path.
//
// Offered to the driver, all for the receive side: MRG_RXBUF (a frame may fill several receive
// buffers), GUEST_CSUM (frames whose checksums lwIP computed arrive marked DATA_VALID, so the
// guest does not verify them again), GUEST_TSO4 (a TCP segment of up to 64 KiB arrives as one
// frame with its segment size, which the guest's stack takes as that many MTU-sized segments:
// one buffer walk, one pass through its stack and one ACK for up to 44 of them) and MTU (QEMU
// keeps that config). Nothing for transmit: the guest sends plain frames with their checksums.
//
// Receive buffers stay in the guest's ring until a frame fills them: a frame takes its buffers
// only once they are known to hold it, and gives them back otherwise, so a stopped ring (a
// save) never has buffers taken but unused. Frames wait in a bounded queue for buffers.
//
// THREAT MODEL: the guest fills both rings. A transmitted frame is bounded by `max_frame` (its
// 12-byte virtio-net header is ignored: no transmit offload is offered); a receive buffer is
// written only within the lengths its chain declares, after the backend checked it lies in guest
// RAM; a chain without room comes back empty.
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"
#include "net/link/guest_nic.h"
#include "virtio/vhost_user_backend.h"

namespace matchlock::net {

class VirtioNetLink : public GuestNic {
 public:
  // `socket`: the backend's end of the vhost-user socket QEMU's `-netdev vhost-user` uses.
  // `max_frame`: the largest frame the guest may send (MTU + Ethernet header and slack).
  static Result<std::unique_ptr<VirtioNetLink>> open(uv_loop_t* loop, UniqueFd socket,
                                                     size_t max_frame, Events events);
  ~VirtioNetLink() override;

  void send(const uint8_t* frame, size_t len, uint16_t tcp_segment_size = 0) override;
  bool takes_large_tcp_segments() const override;

 private:
  enum class Delivery { kDelivered, kNoRoom, kDropped };

  explicit VirtioNetLink(size_t max_frame) : max_frame_(max_frame) {}
  void on_transmitted(virtio::ChainRef chain);
  void flush_queue();
  Delivery deliver(std::string& bytes);
  void interrupt_soon();
  void lost(const Error& e);

  const size_t max_frame_;
  Events events_;
  std::unique_ptr<virtio::VhostUserBackend> backend_;
  std::deque<std::string> queue_;  // header + frame, waiting for receive buffers
  size_t queued_bytes_ = 0;
  uv::Handle<uv_idle_t> interrupt_idle_;  // interrupts the guest once per loop pass
  bool closed_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace matchlock::net
