// Static network configuration of the guest with ioctls (no `ip` binary in minimal images).
// At boot, shared by every sandbox (so a saved guest has it done): IPv6 off, lo up, eth0 up.
// Per sandbox, from CONFIG: eth0's address, netmask and MTU, and a default route via the
// engine's gateway. IPv6 is disabled so nothing can bypass the engine's IPv4-only gate.
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

// IPv6 off on every interface (before any is up, so none ever gets an IPv6 address: turning it
// off later costs RCU grace periods per interface, tens of ms under TCG), then lo and, when the
// NIC is attached, eth0 up without an address. Errors are logged: the host's CONFIG fails
// later on a network it cannot configure.
void prepare_network_devices();
Status configure_eth0(const NetSettings& s);

}  // namespace matchlock::guest_agent
