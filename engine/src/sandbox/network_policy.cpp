#include "sandbox/network_policy.h"

#include <set>

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
  if (o.no_network) return false;
  return !o.allowed_hosts.empty() || !o.secrets.empty() || o.force_interception || o.plugins.any();
}

std::vector<std::string> effective_allowed_hosts(const SandboxOptions& o) {
  std::vector<std::string> hosts;
  std::set<std::string> seen;
  auto add = [&](const std::string& h) {
    if (seen.insert(h).second) hosts.push_back(h);
  };
  for (const auto& h : o.allowed_hosts) add(h);
  for (const auto& secret : o.secrets) {
    for (const auto& h : secret.hosts) add(h);
  }
  return hosts;
}

namespace {

net::policy::PluginSettings plugin_settings(const SandboxOptions& o) {
  net::policy::PluginSettings p;
  for (const auto& s : o.secrets) p.secrets.push_back({s.name, s.value, s.placeholder, s.hosts});
  p.local_model_backend = o.plugins.local_model_backend;
  p.model_routes = o.plugins.model_routes;
  p.usage_log_path = o.plugins.usage_log_path;
  p.budget_limit_usd = o.plugins.budget_limit_usd;
  p.interception_rules_json = o.plugins.interception_rules_json;
  p.callback_socket = o.plugins.callback_socket;
  return p;
}

}  // namespace

Result<std::shared_ptr<net::InterceptPolicy>> make_network_policy(
    const SandboxOptions& o, const std::string& sandbox_id,
    std::shared_ptr<const net::tls::CertificateAuthority> ca, uv_loop_t* loop) {
  if (!wants_interception(o)) return std::shared_ptr<net::InterceptPolicy>();
  net::InterceptOptions io;
  io.allowed_hosts = effective_allowed_hosts(o);
  io.allow_private_hosts = o.allow_private_hosts;
  io.block_private_ips = o.block_private_ips;
  io.add_hosts = o.add_hosts;
  io.certificate_authority = std::move(ca);
  io.plugins = plugin_settings(o);
  io.event_log_path = o.plugins.event_log_path;
  io.run_id = o.plugins.run_id.empty() ? sandbox_id : o.plugins.run_id;
  io.agent_system = o.plugins.agent_system;
  io.plugin_config_path = o.plugins.plugin_config_path;
  io.loop = loop;
  return net::InterceptPolicy::create(io);
}

}  // namespace matchlock::sandbox
