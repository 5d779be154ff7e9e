// NAT's decision for a held guest SYN: dial the destination first. A connected socket accepts
// the guest's connection with an UpstreamRelay over it; a failed dial refuses it (RST), so the
// guest's connect() completes only once the far end exists.
#pragma once

#include <uv.h>

#include <cstdint>
#include <map>
#include <memory>

#include "net/nat/upstream_socket.h"
#include "net/tcp/connection_request.h"

namespace matchlock::net {

class NatDialer {
 public:
  explicit NatDialer(uv_loop_t* loop) : loop_(loop) {}
  NatDialer(const NatDialer&) = delete;
  NatDialer& operator=(const NatDialer&) = delete;

  void dial(uint64_t key, const Endpoint& to, ConnectionRequest request);
  // The connection went before its dial finished (sweep, teardown): the socket closes.
  void cancel(uint64_t key) { pending_.erase(key); }

 private:
  struct Pending {
    ConnectionRequest request;
    std::unique_ptr<UpstreamSocket> socket;
  };
  void on_connected(uint64_t key, int status);

  uv_loop_t* loop_;
  std::map<uint64_t, Pending> pending_;
};

}  // namespace matchlock::net
