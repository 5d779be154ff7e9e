// Interception mode's PolicyHook: the policy pipeline (host_filter first) decides connections
// and HTTP requests; DNS for names no allow rule matches is answered with the sinkhole and
// never sent upstream; upstream answers into blocked ranges are refused; the dial check is on
// the exact address dialled.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "net/policy/allow_list.h"
#include "net/policy/event_log.h"
#include "net/policy/event_sink.h"
#include "net/policy/network_event.h"
#include "net/policy/pipeline.h"
#include "net/policy/plugin_settings.h"
#include "net/policy/private_ranges.h"
#include "net/policy_hook.h"
#include "net/proxy/mitm_services.h"
#include "net/tls/certificate_authority.h"

namespace matchlock::net {

struct InterceptOptions {
  std::vector<std::string> allowed_hosts;  // a secret's hosts are added by the caller
  std::vector<std::string> allow_private_hosts;
  bool block_private_ips = true;
  std::vector<std::pair<std::string, std::string>> add_hosts;  // (name, ip): /etc/hosts lines
  // The sandbox's CA (its key stays in this process): signs the leaves the guest is shown.
  std::shared_ptr<const tls::CertificateAuthority> certificate_authority;
  policy::PluginSettings plugins;
  // --plugin-config: read when the policy is built, merged after the flags' settings.
  std::string plugin_config_path;
  // The sandbox's loop: remote plugins (SDK callbacks, plugin processes) run on it.
  uv_loop_t* loop = nullptr;
  // --event-log PATH ("" = none), with the identity written on every line.
  std::string event_log_path;
  std::string run_id;
  std::string agent_system;
};

class InterceptPolicy : public PolicyHook {
 public:
  static Result<std::shared_ptr<InterceptPolicy>> create(const InterceptOptions& options);

  DnsVerdict dns_query(const std::string& query) override;
  std::optional<std::string> dns_reply(const std::string& forwarded, std::string reply) override;
  GateDecision gate(const policy::Request& request) override;
  bool may_dial(uint32_t ip, const std::string& host) override;
  void connection_blocked(const policy::Request& request, const std::string& why) override;
  // The HTTP proxy's services when InterceptOptions::certificate_authority was set, else null.
  proxy::MitmServices* mitm() override { return mitm_.get(); }

  // For the rpc allow_list_add / allow_list_delete methods (loop thread).
  policy::AllowList& allow_list() { return *allow_list_; }

  // Every finished exchange and blocked connection (rpc `event` notifications); loop thread.
  void set_on_network_event(std::function<void(const policy::NetworkEvent&)> fn) {
    sink_.on_network_event = std::move(fn);
  }

 private:
  InterceptPolicy() = default;
  // Every decision as a debug line, and, with --event-log, as a line of the event log;
  // network events to whoever watches them (the sandbox, for its rpc clients).
  struct LogSink : policy::EventSink {
    void on_decision(const policy::PolicyEvent& e) override;
    void on_event(const policy::Event& e) override;
    void on_network(const policy::NetworkEvent& e) override;
    std::unique_ptr<policy::EventLog> event_log;
    std::function<void(const policy::NetworkEvent&)> on_network_event;
  };

  void bind(const std::string& name, uint32_t ip);
  // `host` when it was given the guest for `ip` (a DNS answer, --add-host), else "".
  std::string dns_name_for(uint32_t ip, const std::string& host) const;

  bool block_private_ips_ = true;
  // Which addresses each name was given to the guest for (DNS answers, --add-host): a request
  // naming `host` is only dialled to one of them. Bounded; the oldest names go first.
  std::map<std::string, std::set<uint32_t>> bindings_;
  std::deque<std::string> binding_order_;
  std::shared_ptr<policy::AllowList> allow_list_;
  std::shared_ptr<policy::PrivateRangePolicy> ranges_;
  LogSink sink_;
  std::unique_ptr<policy::Pipeline> pipeline_;
  std::unique_ptr<proxy::MitmServices> mitm_;  // after pipeline_: it borrows it
};

}  // namespace matchlock::net
