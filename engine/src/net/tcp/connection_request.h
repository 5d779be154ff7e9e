// A guest connection waiting for its decision (the habit of gVisor's tcp Forwarder): whoever
// decides gets this small object and completes it exactly once — accept() with the endpoint
// that will carry the bytes, or refuse() (RST). Dropping it uncompleted refuses. The endpoint
// knows nothing of how it was chosen.
#pragma once

#include <memory>

#include "net/stack/packet_info.h"
#include "net/tcp/guest_stream.h"

namespace matchlock::net {

class TcpConn;

class ConnectionRequest {
 public:
  explicit ConnectionRequest(const std::shared_ptr<TcpConn>& conn);
  ConnectionRequest(ConnectionRequest&& other) noexcept;
  ConnectionRequest& operator=(ConnectionRequest&&) = delete;
  ConnectionRequest(const ConnectionRequest&) = delete;
  ~ConnectionRequest();

  // The guest's SYN (addresses, ports).
  const PacketInfo& syn() const { return syn_; }
  // Hands the connection to `endpoint`. False if the connection is gone meanwhile (reset,
  // swept) or cannot be completed; the endpoint is then reset and dropped.
  bool accept(std::unique_ptr<GuestStreamEndpoint> endpoint);
  // Refuses the connection: the guest sees a reset.
  void refuse();

 private:
  std::weak_ptr<TcpConn> conn_;
  PacketInfo syn_;
  bool completed_ = false;
};

}  // namespace matchlock::net
