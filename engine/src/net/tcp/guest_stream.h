// The seam between a guest TCP connection (lwIP side, TcpConn) and whatever carries its bytes
// (an endpoint: an upstream relay, interception, DNS over TCP, next a TLS-terminating proxy).
// TcpConn has no per-mode branches: it hands bytes, FIN and back-pressure to its endpoint, and
// the endpoint answers through GuestSide. Endpoints never see lwIP pcbs or policy objects
// other than their own.
#pragma once

#include <uv.h>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pbuf;

namespace matchlock::net {

// Bytes from the guest that still hold part of its receive window: whoever delivers them
// calls GuestSide::credit(credit()) once they are gone, so a slow upstream slows the guest.
// Either a received pbuf chain (zero-copy; freed with this object) or a string.
class GuestBytes {
 public:
  // Takes ownership of `p`; credit is its whole length.
  static GuestBytes from_pbuf(struct pbuf* p);
  GuestBytes(std::string bytes, size_t credit) : bytes_(std::move(bytes)), credit_(credit) {}
  GuestBytes(GuestBytes&&) noexcept = default;
  GuestBytes& operator=(GuestBytes&&) noexcept = default;
  ~GuestBytes();

  size_t credit() const { return credit_; }
  size_t size() const;
  // The bytes as one string (copies a pbuf chain once).
  std::string take_string();
  // Buffers pointing into this object; valid while it lives.
  std::vector<uv_buf_t> buffers();

 private:
  GuestBytes() = default;
  struct PbufFree {
    void operator()(struct pbuf* p) const;
  };
  std::unique_ptr<struct pbuf, PbufFree> chain_;
  std::string bytes_;
  size_t credit_ = 0;
};

// What an endpoint may do to the guest's side of the connection. All calls are safe after
// the guest side is gone (they do nothing).
class GuestSide {
 public:
  virtual ~GuestSide() = default;
  // Queues bytes for the guest and sends what lwIP takes now.
  virtual void send(std::string_view bytes) = 0;
  // The host→guest half is over: our FIN follows the queued bytes.
  virtual void end() = 0;
  // Reopens `bytes` of the guest's receive window (bytes delivered or dropped).
  virtual void credit(size_t bytes) = 0;
  // The endpoint needs nothing more of the guest's stream (its FIN was passed on, or the
  // endpoint answered and closes).
  virtual void stream_delivered() = 0;
  // Resets the whole connection (guest RST; the endpoint's reset() runs).
  virtual void reset_connection() = 0;
  // Bytes lwIP would take right now (0 without a connection).
  virtual size_t room() const = 0;
  virtual bool connected() const = 0;
};

// "Guest bytes go here": one per accepted guest connection, owned by it.
class GuestStreamEndpoint {
 public:
  virtual ~GuestStreamEndpoint() = default;
  // lwIP completed the guest's handshake; `guest` outlives the endpoint.
  virtual void start(GuestSide& guest) = 0;
  virtual void on_bytes(GuestBytes bytes) = 0;
  // The guest sent FIN: pass it on, then call GuestSide::stream_delivered().
  virtual void on_guest_fin() = 0;
  // Back-pressure: lwIP's send buffer is nearly full / has room again.
  virtual void on_guest_congested() = 0;
  virtual void on_guest_room() = 0;
  // The connection is reset: drop everything (RST upstream where there is one).
  virtual void reset() = 0;
  // Both halves finished: close gracefully.
  virtual void close() = 0;
};

}  // namespace matchlock::net
