// host_filter: the first gate. Allows a request whose host matches the allow-list; with no
// host (raw TCP, TLS without SNI, HTTP/1.0 without Host) the destination address is checked
// instead. IP literals, named or as the destination, are refused when in a private range
// (unless excepted), before the allow-list is consulted.
//
// A name is not resolved here: the stack checks the address it actually dials with
// PrivateRangePolicy (see private_ranges.h).
#pragma once

#include <memory>

#include "core/result.h"
#include "net/policy/allow_list.h"
#include "net/policy/plugin.h"
#include "net/policy/private_ranges.h"

namespace matchlock::net::policy {

struct PluginContext;

class HostFilter : public Plugin {
 public:
  HostFilter(std::shared_ptr<const AllowList> allow_list,
             std::shared_ptr<const PrivateRangePolicy> private_ranges);

  std::string_view name() const override { return "host_filter"; }
  GateResult gate(const Request& request) override;

 private:
  std::shared_ptr<const AllowList> allow_list_;
  std::shared_ptr<const PrivateRangePolicy> private_ranges_;
};

// nullptr without an allow-list (NAT mode has no pipeline at all).
Result<std::unique_ptr<Plugin>> make_host_filter(const PluginContext& context);

}  // namespace matchlock::net::policy
