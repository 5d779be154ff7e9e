// Answers the guest's DNS on UDP port 53 of ANY address (the address swap delivers every
// query here): queries go through the policy seam, then to the configured servers from the
// host; the reply comes back from the address the guest asked.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "net/dns/upstream_resolver.h"
#include "net/policy_hook.h"
#include "net/stack/lwip_stack.h"

struct udp_pcb;
struct pbuf;

namespace matchlock::net {

struct DnsHooks {
  // Decides each guest query (interception); unset: every query is forwarded as is (NAT).
  std::function<DnsVerdict(const std::string& query)> on_query;
  // Checks an upstream reply to the forwarded query; nullopt drops it.
  std::function<std::optional<std::string>(const std::string& forwarded, std::string reply)>
      on_reply;
};

class DnsForwarder {
 public:
  static constexpr size_t kMaxQuery = 4096;
  static Result<std::unique_ptr<DnsForwarder>> create(LwipStack& stack, UpstreamResolver& resolver,
                                                      DnsHooks hooks);
  ~DnsForwarder();

  // Resolves one query (also used for DNS over TCP); `done` gets nullopt on failure.
  void answer(std::string query, std::function<void(std::optional<std::string>)> done);

 private:
  DnsForwarder(LwipStack& stack, UpstreamResolver& resolver, DnsHooks hooks)
      : stack_(stack), resolver_(resolver), hooks_(std::move(hooks)) {}
  void on_query(struct pbuf* p, uint32_t guest, uint16_t gport, uint32_t asked);

  LwipStack& stack_;
  UpstreamResolver& resolver_;
  DnsHooks hooks_;
  struct udp_pcb* pcb_ = nullptr;
  std::shared_ptr<DnsForwarder*> alive_ = std::make_shared<DnsForwarder*>(this);
};

}  // namespace matchlock::net
