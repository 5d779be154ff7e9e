// The agent's end of the virtio-serial port "matchlock.ctl": framing, a non-blocking outgoing
// queue, and the connected/disconnected life cycle.
//
// virtio-serial reports POLLHUP (and a readable EOF) for as long as no host is connected, so a
// disconnected port is not polled; the agent checks it on a timer instead (no busy loop).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"
#include "guest_protocol/frame_codec.h"

namespace matchlock::guest_agent {

// Where exec sessions send their frames; lets them be tested without a port.
class FrameSink {
 public:
  virtual ~FrameSink() = default;
  virtual void send(guest_protocol::FrameType type, uint32_t stream, std::string_view payload) = 0;
};

class Channel : public FrameSink {
 public:
  // Finds the port by name under /sys/class/virtio-ports and opens it, retrying until timeout.
  static Result<Channel> open(const std::string& port_name, int timeout_ms);
  // Wraps an already connected, non-blocking fd (tests drive the agent over a socketpair).
  static Channel adopt(UniqueFd fd) { return Channel(std::move(fd)); }

  bool connected() const { return connected_; }
  int fd() const { return fd_.get(); }
  // poll() events to wait for while connected.
  short poll_events() const;

  // Queues a frame; dropped while disconnected (a new host starts from a fresh HELLO).
  void send(guest_protocol::FrameType type, uint32_t stream, std::string_view payload) override;
  size_t queued_bytes() const { return out_.size() - out_pos_; }

  // Handles poll() results on the port. Returns false when the host went away.
  bool on_ready(short revents);
  // Next complete incoming frame, if any.
  std::optional<guest_protocol::Frame> next_frame();

  // While disconnected: true once the host is back (the port is writable and not hung up).
  bool check_reconnected();
  void mark_disconnected();

 private:
  explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}
  bool read_available();
  bool write_queued();

  UniqueFd fd_;
  bool connected_ = true;
  bool input_broken_ = false;  // after a framing error: discard input until the host reconnects
  guest_protocol::FrameDecoder decoder_;
  std::string out_;
  size_t out_pos_ = 0;
};

}  // namespace matchlock::guest_agent
