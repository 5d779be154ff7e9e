// Static network configuration of the guest with ioctls (no `ip` binary in minimal images).
// At boot, shared by every sandbox (so a saved guest has it done): IPv6 off, lo up, eth0 up,
// and eth0's addressing when the kernel command line carries it (matchlock.net=, which the host
// sets to what every sandbox of that machine gets). Per sandbox, from CONFIG: eth0's address,
// netmask and MTU, and a default route via the engine's gateway; a CONFIG asking for what eth0
// already has changes nothing (a restored guest then skips work that, under TCG, costs it
// tens of ms of first-time kernel paths). IPv6 is disabled so nothing can bypass the engine's
// IPv4-only gate.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace matchlock::guest_agent {

struct NetSettings {
  std::string address;
  int prefix = 24;
  std::string gateway;
  int mtu = 1500;
  bool operator==(const NetSettings&) const = default;
};

// matchlock.net=ADDRESS/PREFIX,GATEWAY,MTU in a kernel command line, if there (syntax only:
// configure_eth0 checks the values).
std::optional<NetSettings> boot_network_settings(std::string_view cmdline);

// IPv6 off on every interface (before any is up, so none ever gets an IPv6 address: turning it
// off later costs RCU grace periods per interface, tens of ms under TCG), then lo and, when the
// NIC is attached, eth0 up without an address. Errors are logged: the host's CONFIG fails
// later on a network it cannot configure.
void prepare_network_devices();
// Sets eth0's address, netmask, MTU and default route, unless they are exactly what the last
// successful call set.
Status configure_eth0(const NetSettings& s);

}  // namespace matchlock::guest_agent
