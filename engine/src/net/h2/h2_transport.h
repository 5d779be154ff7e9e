// Where the HTTP/2 bridge writes bytes: the proxy's connection to the guest (after TLS
// termination) or to the upstream server (a TLS client connection). Bytes the other way, and
// the close of the connection, the proxy reports to the bridge (H2ExchangeBridge::on_*).
#pragma once

#include <string>

namespace matchlock::net::h2 {

class H2Transport {
 public:
  virtual ~H2Transport() = default;

  // Plaintext HTTP/2 bytes to encrypt and send, in order.
  virtual void send(std::string bytes) = 0;
  // False while the transport holds as much unsent data as it wants to: the bridge frames no
  // more until the proxy calls on_guest_writable() / on_upstream_writable().
  virtual bool can_send() const { return true; }
  // The bridge is done with this connection (after its last send). Must not destroy the bridge
  // synchronously: the bridge is still on the stack.
  virtual void close() = 0;
};

}  // namespace matchlock::net::h2
