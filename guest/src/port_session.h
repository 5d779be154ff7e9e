// One port stream in the agent: a TCP connection to a loopback port in the guest, relayed to the
// host over the channel (protocol in guest/channel/protocol.h).
//
// Nothing blocks: the connect is non-blocking and the agent's poll() loop drives the socket.
// The socket is read only while the host has granted credit (and the port has room), so a slow
// host client stalls the guest server through TCP instead of growing our buffers. Bytes from
// the host are written as the socket takes them, and credit goes back only for written bytes.
#pragma once

#include <poll.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "channel.h"
#include "core/unique_fd.h"

namespace matchlock::guest_agent {

class PortSession {
 public:
  // Starts connecting to the target of a PORT_OPEN body. A bad request or an immediate failure
  // is reported to the host (ERROR) and leaves the session finished.
  PortSession(uint32_t stream, std::string_view open_request, FrameSink& sink);

  uint32_t stream() const { return stream_; }
  bool finished() const { return state_ == State::kClosed; }

  // The socket and the events to wait for; nullopt when there is nothing to wait for now.
  // `port_has_room`: false while the channel's outgoing queue is too long to read more.
  std::optional<pollfd> poll_request(bool port_has_room) const;
  void on_poll_ready(short revents);

  // DATA, EOF, CREDIT and PORT_CLOSE from the host; anything else is logged and ignored.
  void on_frame(const guest_protocol::Frame& frame);

 private:
  enum class State { kConnecting, kOpen, kClosed };

  void on_connected();
  void refuse(const std::string& message);
  void read_socket();
  void write_socket();
  void maybe_finish();
  void fail(const std::string& message);
  void close_socket();

  uint32_t stream_;
  FrameSink& sink_;
  State state_ = State::kConnecting;
  UniqueFd socket_;
  // host -> guest
  std::string to_socket_;
  bool host_eof_ = false;  // EOF 0 received
  bool socket_write_shut_ = false;
  // guest -> host
  uint64_t credit_ = guest_protocol::kInitialCredit;
  bool socket_eof_sent_ = false;  // EOF 1 sent
};

}  // namespace matchlock::guest_agent
