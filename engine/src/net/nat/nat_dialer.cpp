#include "net/nat/nat_dialer.h"

#include <string>

#include "core/log.h"
#include "net/nat/upstream_relay.h"

namespace matchlock::net {

void NatDialer::dial(uint64_t key, const Endpoint& to, ConnectionRequest request) {
  auto socket = UpstreamSocket::dial(loop_, to);
  // The socket lives in pending_, so this callback never outlives the dialer.
  socket->on_connected([this, key](int status) { on_connected(key, status); });
  pending_.emplace(key, Pending{std::move(request), std::move(socket)});
}

void NatDialer::on_connected(uint64_t key, int status) {
  auto it = pending_.find(key);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  if (status != 0) {
    const PacketInfo& syn = p.request.syn();
    log::debug("net: upstream connect for guest port " + std::to_string(syn.sport) + " -> " +
               ipv4_text(syn.dst) + ":" + std::to_string(syn.dport) +
               " failed: " + uv::error_text(status));
    return p.request.refuse();
  }
  p.request.accept(std::make_unique<UpstreamRelay>(std::move(p.socket), /*connected=*/true));
}

}  // namespace matchlock::net
