#include "net/policy/plugins/host_filter.h"

#include "net/policy/plugin_registry.h"

namespace matchlock::net::policy {

HostFilter::HostFilter(std::shared_ptr<const AllowList> allow_list,
                       std::shared_ptr<const PrivateRangePolicy> private_ranges)
    : allow_list_(std::move(allow_list)), private_ranges_(std::move(private_ranges)) {}

GateResult HostFilter::gate(const Request& request) {
  std::string host = request.host;
  if (host.empty()) {
    if (!request.destination) return Deny{"no host name and no destination address"};
    host = request.destination->to_string();
  }
  if (auto address = IpAddress::parse(host)) {
    if (!private_ranges_ || private_ranges_->is_blocked_address(*address)) {
      return Deny{address->to_string() + " is a private or loopback address"};
    }
  }
  if (allow_list_->empty()) {
    if (allow_list_->empty_means() == EmptyListMeans::kAllowAll) {
      return Allow{"allow-list is empty: all hosts allowed"};
    }
    return Deny{"host " + host + " is not allowed: the allow-list is empty"};
  }
  if (const HostPattern* pattern = allow_list_->first_match(host)) {
    return Allow{"host " + host + " matches " + pattern->text()};
  }
  return Deny{"host " + host + " is not in the allow-list"};
}

Result<std::unique_ptr<Plugin>> make_host_filter(const PluginContext& context) {
  const PolicyConfig& config = context.config;
  if (!config.allow_list) return std::unique_ptr<Plugin>();
  return std::unique_ptr<Plugin>(
      std::make_unique<HostFilter>(config.allow_list, config.private_ranges));
}

}  // namespace matchlock::net::policy
