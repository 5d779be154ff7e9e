// The endpoint that relays a guest connection to one host socket, both ways, with
// back-pressure: a guest's bytes are credited back to its window only once the socket took
// them; host reads pause while lwIP's send buffer is low. Bytes and the guest's FIN that come
// while the socket is still connecting wait for it. Policy-free: NAT accepts a connection with
// it once its dial succeeded; interception forwards the bytes its gate allowed to it.
#pragma once

#include <memory>
#include <string>

#include "net/nat/upstream_socket.h"
#include "net/tcp/conn_states.h"
#include "net/tcp/guest_stream.h"

namespace matchlock::net {

class UpstreamRelay final : public GuestStreamEndpoint {
 public:
  // `socket` may still be connecting; a failed connect resets the guest's connection.
  explicit UpstreamRelay(std::unique_ptr<UpstreamSocket> socket, bool connected);

  void start(GuestSide& guest) override;
  void on_bytes(GuestBytes bytes) override;
  void on_guest_fin() override;
  void on_guest_congested() override;
  void on_guest_room() override;
  void reset() override;
  void close() override;

  // Connecting or connected (not yet closed or reset).
  bool active() const { return phase_ != UpstreamPhase::kClosed; }

 private:
  enum class Reading { kPaused, kReading, kEnded };

  void on_connected(int status);
  void write(GuestBytes bytes);
  void shutdown();
  void start_reads();
  void stop_reads();
  void on_read(ssize_t nread, const uv_buf_t* buf);

  std::unique_ptr<UpstreamSocket> socket_;
  GuestSide* guest_ = nullptr;
  UpstreamPhase phase_;
  UpstreamSend send_ = UpstreamSend::kOpen;
  Reading reading_ = Reading::kPaused;
  std::string pending_;        // bytes waiting for the connect
  size_t pending_credit_ = 0;  // guest window to reopen once they are written
};

}  // namespace matchlock::net
