// The sandbox's network policy as its callers see it: validation of the policy options that
// cli flags and rpc params share, the allow-list change a running sandbox reports, and the
// choice of mode (NAT unless a policy flag — --allow-host; later --secret and plugin flags —
// asks for interception). The net/ types stay behind this header.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "sandbox/sandbox_options.h"

namespace matchlock::net {
class InterceptPolicy;
}

namespace matchlock::sandbox {

// An --allow-host / network.allowed_hosts entry: a host name, a *. wildcard or an IP literal.
Status validate_allowed_host(const std::string& pattern);
// An --allow-private-host entry: an IP address (or CIDR range) exempt from private-range blocks.
Status validate_private_host(const std::string& ip);

struct AllowListChange {
  std::vector<std::string> changed;        // hosts added (or removed), canonical text
  std::vector<std::string> allowed_hosts;  // the whole allow-list afterwards
};

bool wants_interception(const SandboxOptions& o);
Result<std::shared_ptr<net::InterceptPolicy>> make_network_policy(const SandboxOptions& o);

}  // namespace matchlock::sandbox
