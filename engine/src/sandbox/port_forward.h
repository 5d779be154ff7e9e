// Host TCP listeners whose connections are relayed to ports inside the guest, each over its own
// port stream on the guest channel (guest/port_stream.h), so forwarding needs no guest NIC.
//
// Back-pressure both ways, with bounded buffers per connection:
//  - client -> guest: the client socket is not read while the port stream has bytes waiting
//    for guest credit (at most one read of 64 KiB queued);
//  - guest -> client: credit goes back to the guest only when a write to the client has
//    completed, so at most the stream's credit (256 KiB) waits in the client's write queue.
// EOF travels each way on its own (half-close works); a refused or failed guest connection
// resets the client at once.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/uv.h"
#include "guest_client/port_stream.h"
#include "sandbox/port_forward_relay.h"
#include "sandbox/port_forward_spec.h"

namespace matchlock::guest_client {
class GuestConnection;
}

namespace matchlock::sandbox {

// The opener for a sandbox's guest channel; it holds the connection weakly.
GuestPortOpener guest_port_opener(std::weak_ptr<guest_client::GuestConnection> connection);

class PortForwarder {
 public:
  // At most this many relayed connections at once; more are accepted and reset.
  static constexpr size_t kMaxConnections = 512;

  // Binds one listener per rule, in order. If any bind fails, nothing stays bound and the error
  // names the address and port ("bind local port-forward listener 127.0.0.1:8080: address
  // already in use").
  static Result<std::unique_ptr<PortForwarder>> start(uv_loop_t* loop,
                                                      const std::vector<PortForwardRule>& rules,
                                                      GuestPortOpener open_guest_port);
  // Closes the listeners and resets every relayed connection.
  ~PortForwarder();
  PortForwarder(const PortForwarder&) = delete;
  PortForwarder& operator=(const PortForwarder&) = delete;

  // One per rule, in the rules' order, with the ports actually bound.
  const std::vector<PortForwardBinding>& bindings() const { return bindings_; }
  size_t active_connections() const { return connections_.size(); }

 private:
  struct Listener {
    PortForwarder* owner = nullptr;
    uint16_t guest_port = 0;
    uv::Handle<uv_tcp_t> tcp;
  };

  PortForwarder(uv_loop_t* loop, GuestPortOpener open_guest_port);
  Status listen(const PortForwardRule& rule);
  void on_connection(Listener& listener);

  uv_loop_t* loop_;
  GuestPortOpener open_guest_port_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::vector<PortForwardBinding> bindings_;
  std::map<uint64_t, std::shared_ptr<PortForwardRelay>> connections_;
  uint64_t next_connection_id_ = 1;
};

}  // namespace matchlock::sandbox
