// DNS over TCP answered by the engine: splits the guest's stream into 2-byte-length-prefixed
// messages, resolves each through the DnsForwarder (same policy as UDP), and frames the replies.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "net/dns/dns_forwarder.h"

namespace matchlock::net {

class DnsTcpSession {
 public:
  using Emit = std::function<void(std::string framed_reply)>;
  // `emit` is never called after the session is destroyed.
  DnsTcpSession(DnsForwarder& forwarder, Emit emit)
      : forwarder_(forwarder), emit_(std::move(emit)) {}
  ~DnsTcpSession() { *alive_ = false; }

  // False on a malformed stream (a zero length): close the connection.
  bool feed(std::string_view bytes);
  // Queries still waiting for an answer (the connection closes only after them).
  size_t pending() const { return pending_; }

 private:
  DnsForwarder& forwarder_;
  Emit emit_;
  std::string buf_;
  size_t pending_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace matchlock::net
