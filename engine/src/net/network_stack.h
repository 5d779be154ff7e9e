// The sandbox's whole network: the guest NIC link, lwIP, and the relays behind it. Runs on the
// owner's libuv loop. Modes: NAT (no policy) relays anything except the host's loopback and
// the link itself; interception routes traffic through a PolicyHook.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "net/policy_hook.h"

namespace matchlock::net {

// How the guest's NIC reaches the engine (net/link/guest_nic.h).
enum class NicTransport {
  kVhostUser,  // QEMU `-netdev vhost-user`: the engine serves the virtio-net rings itself
  kStream,     // QEMU `-netdev stream`: length-framed frames, no offloads
};

struct NetworkConfig {
  int mtu = 1500;
  NicTransport transport = NicTransport::kVhostUser;
  std::vector<std::string> dns_servers;  // IPv4 literals; queries go to port 53
  std::shared_ptr<PolicyHook> policy;    // null: NAT mode
};

// What the guest's init configures on eth0.
struct GuestAddressing {
  std::string address, gateway;
  int prefix = 24;
  int mtu = 1500;
};
GuestAddressing guest_addressing(int mtu);

class NetworkStack {
 public:
  // `link_fd` is the engine's end of the NIC's connection with QEMU (the vhost-user socket, or
  // the stream, as config.transport says); invalid: none yet (replace_link attaches it).
  static Result<std::unique_ptr<NetworkStack>> start(uv_loop_t* loop, UniqueFd link_fd,
                                                     NetworkConfig config,
                                                     std::function<void(const Error&)> on_closed);
  ~NetworkStack();
  // Attaches the NIC's connection with QEMU in place of the current one, if any (QEMU connects
  // after it starts; a boot that starts QEMU again after a failed warm start connects anew).
  // Invalid: just drops the current one. Connections through an old link are gone with that
  // guest.
  Status replace_link(UniqueFd link_fd);

 private:
  struct Impl;
  explicit NetworkStack(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace matchlock::net
