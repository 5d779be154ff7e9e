// Static network configuration of the guest with ioctls (no `ip` binary in minimal images):
// lo up always; eth0 address, netmask, MTU, up, and a default route via the engine's gateway.
// IPv6 is disabled so nothing can bypass the engine's IPv4-only gate.
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::guest_agent {

struct NetSettings {
  std::string address;
  int prefix = 24;
  std::string gateway;
  int mtu = 1500;
};

Status bring_up_loopback();
Status disable_ipv6();
Status configure_eth0(const NetSettings& s);

}  // namespace matchlock::guest_agent
