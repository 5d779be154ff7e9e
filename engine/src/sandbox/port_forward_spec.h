// The user's port-forward specs (`run -p`, `port-forward ID SPEC...`): which host address and
// port listen, and which guest port they reach.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::sandbox {

// One listener: what the sandbox binds on the host and the guest port it reaches.
struct PortForwardRule {
  std::string address = "127.0.0.1";  // IP literal to listen on
  uint16_t host_port = 0;             // 0 = any free port
  uint16_t guest_port = 0;            // reached at 127.0.0.1 inside the guest
};

struct PortForwardBinding {
  std::string address;
  uint16_t host_port = 0;  // the port actually bound
  uint16_t guest_port = 0;
};

struct PortForwardSpec {
  // An IP literal to listen on; absent = the caller's default (127.0.0.1, or --address).
  std::optional<std::string> address;
  // 0 = any free port, chosen when binding and reported then.
  uint16_t host_port = 0;
  uint16_t guest_port = 0;  // 1-65535
};

// Parses "[ADDR:]HOST:GUEST", or "GUEST" alone (HOST = GUEST). ADDR is an IPv4 literal, an IPv6
// literal in brackets ("[::1]:8080:80"), or "localhost" (127.0.0.1). HOST may be 0 (a free
// port); GUEST is 1-65535. Errors are kInvalidArgument and quote the spec and the bad part.
Result<PortForwardSpec> parse_port_forward_spec(std::string_view spec);

// A listen address on its own (--address, rpc "addresses"): an IPv4 or IPv6 literal (brackets
// optional) or "localhost"; returned as the canonical literal ("127.0.0.1", "::1").
Result<std::string> parse_listen_address(std::string_view address);

// The listeners for `specs`: a spec naming its address gives one rule; one without gives a rule
// per entry of `default_addresses` (--address, rpc "addresses"; 127.0.0.1 when empty).
std::vector<PortForwardRule> port_forward_rules(const std::vector<PortForwardSpec>& specs,
                                                const std::vector<std::string>& default_addresses);

}  // namespace matchlock::sandbox
