// The user's port-forward specs (`run -p`, `port-forward ID SPEC...`): which host address and
// port listen, and which guest port they reach.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace matchlock::sandbox {

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

}  // namespace matchlock::sandbox
