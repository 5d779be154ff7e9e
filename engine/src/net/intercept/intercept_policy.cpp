#include "net/intercept/intercept_policy.h"

#include "core/log.h"
#include "net/dns/dns_builder.h"
#include "net/dns/dns_parser.h"
#include "net/intercept/intercept_mitm.h"
#include "net/policy/dns_rebinding.h"
#include "net/policy/host_name.h"
#include "net/policy/plugin_config_file.h"
#include "net/policy/plugin_registry.h"
#include "net/stack/addresses.h"

namespace matchlock::net {

void InterceptPolicy::LogSink::on_decision(const policy::PolicyEvent& e) {
  log::debug("net policy: " + e.phase + " " + e.plugin + " " + e.host + " " +
             (e.allowed ? "allowed" : "denied") + ": " + e.reason);
  if (event_log) event_log->on_decision(e);
}

void InterceptPolicy::LogSink::on_event(const policy::Event& e) {
  if (event_log) event_log->on_event(e);
}

void InterceptPolicy::LogSink::on_network(const policy::NetworkEvent& e) {
  if (on_network_event) on_network_event(e);
}

Result<std::shared_ptr<InterceptPolicy>> InterceptPolicy::create(const InterceptOptions& o) {
  std::shared_ptr<InterceptPolicy> p(new InterceptPolicy());
  p->block_private_ips_ = o.block_private_ips;
  // Started with an allow-list (--allow-host, a secret's hosts): deleting every rule at runtime
  // denies everything. Started without one (interception for plugins only): every host.
  p->allow_list_ = std::make_shared<policy::AllowList>(o.allowed_hosts.empty()
                                                           ? policy::EmptyListMeans::kAllowAll
                                                           : policy::EmptyListMeans::kDenyAll);
  if (!o.allowed_hosts.empty()) {
    auto added = p->allow_list_->add(o.allowed_hosts);
    if (!added.ok()) return added.error().with_context("--allow-host");
  }
  p->ranges_ = std::make_shared<policy::PrivateRangePolicy>();
  for (const auto& ip : o.allow_private_hosts) {
    auto addr = policy::PrivateRangePolicy::parse_exception(ip);
    if (!addr.ok()) return addr.error();
    p->ranges_->add_exception(*addr);
  }
  for (const auto& [name, ip] : o.add_hosts) {
    uint32_t v4;
    if (parse_ipv4(ip, &v4)) p->bind(policy::normalize_host_name(name), v4);
  }
  if (!o.event_log_path.empty()) {
    auto log = policy::EventLog::open(o.event_log_path, {o.run_id, o.agent_system});
    if (!log.ok()) return log.error().with_context("--event-log");
    p->sink_.event_log = std::move(log.value());
  }
  policy::PolicyConfig cfg{p->allow_list_, p->ranges_, o.plugins, o.loop};
  if (!o.plugin_config_path.empty()) {
    auto merged = policy::load_plugin_config(o.plugin_config_path, std::move(cfg.settings));
    if (!merged.ok()) return merged.error().with_context("--plugin-config");
    cfg.settings = std::move(merged.value());
  }
  // A plugin that cannot be configured fails the sandbox's start: never a pipeline that runs
  // without a plugin the user asked for.
  auto pipeline = policy::make_pipeline(cfg, &p->sink_);
  if (!pipeline.ok()) return pipeline.error();
  p->pipeline_ = std::make_unique<policy::Pipeline>(std::move(pipeline.value()));
  if (o.certificate_authority) {
    InterceptPolicy* self = p.get();  // the services live inside *p: never outlive it
    auto mitm = InterceptMitm::create(
        o.certificate_authority, *p->pipeline_, *p,
        [self](uint32_t ip, const std::string& host) { return self->dns_name_for(ip, host); });
    if (!mitm) return mitm.error();
    p->mitm_ = std::move(*mitm);
  }
  return p;
}

GateDecision InterceptPolicy::gate(const policy::Request& request) {
  auto v = pipeline_->evaluate_gate(request);
  return {v.allowed, v.reason};
}

void InterceptPolicy::bind(const std::string& name, uint32_t ip) {
  constexpr size_t kMaxNames = 4096;
  auto [it, inserted] = bindings_.try_emplace(name);
  it->second.insert(ip);
  if (!inserted) return;
  binding_order_.push_back(name);
  if (binding_order_.size() > kMaxNames) {
    bindings_.erase(binding_order_.front());
    binding_order_.pop_front();
  }
}

std::string InterceptPolicy::dns_name_for(uint32_t ip, const std::string& host) const {
  auto it = bindings_.find(host);
  return it != bindings_.end() && it->second.count(ip) > 0 ? host : std::string();
}

bool InterceptPolicy::may_dial(uint32_t ip, const std::string& host) {
  if (never_relay(ip)) return false;
  auto addr = policy::IpAddress::v4(ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
  if (block_private_ips_ && ranges_->is_blocked_address(addr)) return false;
  if (host.empty()) return true;  // raw TCP: host_filter already checked the address itself
  if (auto literal = policy::IpAddress::parse(host)) return literal->canonical() == addr;
  auto it = bindings_.find(host);
  return it != bindings_.end() && it->second.count(ip) > 0;
}

// The event log already has the gate's decision; the watchers get the connection itself.
void InterceptPolicy::connection_blocked(const policy::Request& request, const std::string& why) {
  sink_.on_network(policy::blocked_connection_event(request, why));
}

DnsVerdict InterceptPolicy::dns_query(const std::string& query) {
  auto header = dns::parse_dns_header(query);
  if (!header.ok()) return {DnsVerdict::Action::kDrop, {}};
  auto q = dns::parse_dns_query(query);
  if (!q.ok()) return {DnsVerdict::Action::kAnswer, dns::build_format_error(*header)};
  if (q->header.opcode() != 0)
    return {DnsVerdict::Action::kAnswer, dns::build_error_response(*q, dns::Rcode::kNotImp)};
  policy::Request r;
  r.protocol = policy::Protocol::kDns;
  r.host = policy::normalize_host_name(q->question.name.to_text());
  auto v = pipeline_->evaluate_gate(r);
  if (!v.allowed) {
    // Never sent upstream (no DNS exfiltration). The sinkhole address makes the guest's
    // request reach the proxy, which answers 403 naming the host.
    auto sinkhole = policy::IpAddress::v4(kSinkholeIp >> 24, (kSinkholeIp >> 16) & 0xff,
                                          (kSinkholeIp >> 8) & 0xff, kSinkholeIp & 0xff);
    return {DnsVerdict::Action::kAnswer, dns::build_sinkhole_response(*q, sinkhole)};
  }
  // Only the parsed question goes upstream, re-encoded (nothing else the guest put in).
  return {DnsVerdict::Action::kForward, dns::build_dns_query(q->header.id, q->question)};
}

std::optional<std::string> InterceptPolicy::dns_reply(const std::string& forwarded,
                                                      std::string reply) {
  auto q = dns::parse_dns_query(forwarded);
  auto resp = dns::parse_dns_response(reply);
  if (!q.ok()) return std::nullopt;
  if (!resp.ok()) return dns::build_error_response(*q, dns::Rcode::kServFail);
  // Rebinding: an answer into a blocked range (only the host's loopback when blocking is off).
  if (block_private_ips_) {
    if (auto bad = policy::first_blocked_answer(*resp, *ranges_)) {
      log::debug("net: refused DNS answer pointing at " + bad->to_string());
      return dns::build_error_response(*q, dns::Rcode::kRefused);
    }
  } else {
    for (const auto& a : resp->addresses)
      if (policy::is_host_loopback_address(a))
        return dns::build_error_response(*q, dns::Rcode::kRefused);
  }
  // Remember which addresses this name was given for: requests naming it may dial only those.
  std::string name = policy::normalize_host_name(q->question.name.to_text());
  for (const auto& a : resp->addresses) {
    auto v4 = a.canonical();
    if (!v4.is_v4()) continue;
    const auto& b = v4.bytes();
    bind(name, (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3]);
  }
  return reply;
}

}  // namespace matchlock::net
