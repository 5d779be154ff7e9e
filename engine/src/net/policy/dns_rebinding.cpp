#include "net/policy/dns_rebinding.h"

namespace matchlock::net::policy {

std::optional<IpAddress> first_blocked_answer(const dns::DnsResponse& response,
                                              const PrivateRangePolicy& ranges) {
  for (const IpAddress& address : response.addresses) {
    if (ranges.is_blocked_address(address)) return address;
  }
  return std::nullopt;
}

}  // namespace matchlock::net::policy
