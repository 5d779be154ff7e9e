// Port streams: one TCP connection from the host to a port inside the guest, carried through the
// agent over the guest channel (protocol in guest/channel/protocol.h), so it needs no NIC.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "guest_client/guest_stream.h"

namespace matchlock::guest_client {

// Where inside the guest to connect. The agent accepts loopback addresses only.
struct PortTarget {
  std::string address = "127.0.0.1";
  uint16_t port = 0;

  std::string describe() const;  // "127.0.0.1:8080", "[::1]:8080"
};

struct PortEvents {
  // The agent connected to the guest port.
  std::function<void()> on_opened;
  // Bytes from the guest's server. `consumed` must be called once they have been passed on; it
  // returns credit to the guest, so a slow consumer slows the server instead of growing buffers.
  std::function<void(std::string_view bytes, std::function<void()> consumed)> on_data;
  // The guest's server shut down its write side; bytes can still go the other way.
  std::function<void()> on_eof;
  // The stream is over: ok after EOF both ways; an error when the connection was refused or
  // failed, or the channel was lost. Called exactly once, unless the host closed it first.
  std::function<void(Status)> on_closed;
};

// The caller's handle on one port stream. Methods are no-ops once the stream is finished.
class PortHandle : public GuestStream {
 public:
  PortHandle() : GuestStream(Kind::kPort) {}

  // Queues bytes for the guest's server; they go out as the guest grants credit (see
  // write_backlog), so the caller should stop producing while the backlog is non-zero.
  void write(std::string bytes);
  // EOF towards the guest after the queued bytes (the client's half-close).
  void shutdown_write();
  // Aborts the stream: the agent closes its socket. No event is called afterwards.
  void close();

  size_t write_backlog() const { return queued_bytes(); }
  void set_on_write_drained(std::function<void()> fn) { on_drained_ = std::move(fn); }
  bool opened() const { return opened_; }
  const PortTarget& target() const { return target_; }

 private:
  friend class GuestConnection;
  void deliver_bytes(guest_protocol::StreamFd fd, std::string_view bytes,
                     std::function<void()> consumed) override;
  void deliver_eof(guest_protocol::StreamFd fd) override;
  void deliver_lost(const Error& reason) override;
  bool accepts_output() const override { return opened_; }

  PortTarget target_;
  PortEvents events_;
  bool opened_ = false;
};

}  // namespace matchlock::guest_client
