// The guest NIC over a stream: a socketpair end shared with QEMU's `-netdev stream`, which
// carries frames with a 4-byte length and no virtio-net offloads. Sandboxes use VirtioNetLink;
// this transport remains for what drives the stack without a guest (the guest_network fuzz
// harness). Reads frames through FrameReader; batches outgoing frames into one write per loop
// pass (QEMU reads up to 69,632 bytes at a time, so fewer syscalls is most of the throughput).
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"
#include "net/link/frame_reader.h"
#include "net/link/guest_nic.h"

namespace matchlock::net {

class GuestLink : public GuestNic {
 public:
  // on_closed: EOF, I/O error or a malformed frame.
  static Result<std::unique_ptr<GuestLink>> open(uv_loop_t* loop, UniqueFd fd, size_t max_frame,
                                                 Events events);
  ~GuestLink() override;

  // No offloads: a frame marked as a large TCP segment is dropped (the stack never sends one,
  // since takes_large_tcp_segments() is false).
  void send(const uint8_t* frame, size_t len, uint16_t tcp_segment_size = 0) override;
  bool takes_large_tcp_segments() const override { return false; }
  bool closed() const { return closed_; }

 private:
  explicit GuestLink(size_t max_frame) : reader_(max_frame) {}
  void on_read(ssize_t nread, const uv_buf_t* buf);
  void flush();
  void fail(const Error& e);

  uv::Handle<uv_pipe_t> pipe_;
  uv::Handle<uv_idle_t> flush_idle_;  // an active idle handle also makes the next poll non-blocking
  FrameReader reader_;
  Events events_;
  std::string pending_;
  std::string read_buf_;
  bool closed_ = false;
  std::shared_ptr<GuestLink*> alive_;  // weak token for write completions
};

}  // namespace matchlock::net
