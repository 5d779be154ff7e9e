// The sandbox's network policy as its callers see it: validation of the policy options that
// cli flags and rpc params share, the allow-list change a running sandbox reports, and the
// choice of mode (NAT unless a policy option — --allow-host, --secret, a plugin flag, rpc
// network.intercept — asks for interception). The net/ types stay behind this header.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "sandbox/sandbox_options.h"

namespace matchlock::net {
class InterceptPolicy;
namespace tls {
class CertificateAuthority;
}
}  // namespace matchlock::net

namespace matchlock::sandbox {

// An --allow-host / network.allowed_hosts entry: a host name, a *. wildcard or an IP literal.
Status validate_allowed_host(const std::string& pattern);
// An --allow-private-host entry: an IP address (or CIDR range) exempt from private-range blocks.
Status validate_private_host(const std::string& ip);

struct AllowListChange {
  std::vector<std::string> changed;        // hosts added (or removed), canonical text
  std::vector<std::string> allowed_hosts;  // the whole allow-list afterwards
};

// True when the options ask for interception mode (never with --no-network: the parsers
// refuse that combination).
bool wants_interception(const SandboxOptions& o);

// --allow-host patterns plus every secret's hosts, first-seen order, no duplicates.
std::vector<std::string> effective_allowed_hosts(const SandboxOptions& o);

// Interception mode's policy (null in NAT mode). `ca` is the sandbox's certificate authority
// (null only in NAT mode); `sandbox_id` is the event log's run id unless --run-id gave one.
// The secrets' values go into the plugin settings here and nowhere else. `loop` runs the
// remote plugins (SDK callbacks, plugin processes) and must outlive the policy.
Result<std::shared_ptr<net::InterceptPolicy>> make_network_policy(
    const SandboxOptions& o, const std::string& sandbox_id,
    std::shared_ptr<const net::tls::CertificateAuthority> ca, uv_loop_t* loop);

}  // namespace matchlock::sandbox
