#include "sandbox/network_policy.h"

#include <cstdlib>

#include "net/intercept/intercept_policy.h"
#include "net/policy/host_pattern.h"
#include "net/policy/private_ranges.h"

namespace matchlock::sandbox {

Status validate_allowed_host(const std::string& pattern) {
  auto p = net::policy::HostPattern::parse(pattern);
  if (!p.ok()) return p.error();
  return {};
}

Status validate_private_host(const std::string& ip) {
  auto e = net::policy::PrivateRangePolicy::parse_exception(ip);
  if (!e.ok()) return e.error();
  return {};
}

bool wants_interception(const SandboxOptions& o) {
  return !o.allowed_hosts.empty();
}

Result<std::shared_ptr<net::InterceptPolicy>> make_network_policy(const SandboxOptions& o) {
  if (!wants_interception(o)) return std::shared_ptr<net::InterceptPolicy>();
  net::InterceptOptions io;
  io.allowed_hosts = o.allowed_hosts;
  io.allow_private_hosts = o.allow_private_hosts;
  io.block_private_ips = o.block_private_ips;
  io.add_hosts = o.add_hosts;
  // TEMPORARY, for the MITM proxy's tests until the sandbox boot owns the CA and delivers it
  // into the guest: without the guest trusting it, TLS interception stays off by default.
  if (const char* on = std::getenv("MATCHLOCK_EXPERIMENTAL_MITM"); on && std::string(on) == "1") {
    auto ca = net::tls::CertificateAuthority::create("matchlock-sandbox");
    if (!ca) return ca.error();
    io.certificate_authority =
        std::make_shared<const net::tls::CertificateAuthority>(std::move(*ca));
  }
  return net::InterceptPolicy::create(io);
}

}  // namespace matchlock::sandbox
