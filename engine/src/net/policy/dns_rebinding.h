// Rebinding defence for forwarded DNS: an upstream answer that points a name into a blocked
// range is refused (answer the guest REFUSED). Defence in depth only: the dial-time check on the
// exact address dialled is what actually protects.
#pragma once

#include <optional>

#include "net/dns/dns_message.h"
#include "net/policy/private_ranges.h"

namespace matchlock::net::policy {

// The first A/AAAA address, in any section, that `ranges` blocks; nullopt if none.
std::optional<IpAddress> first_blocked_answer(const dns::DnsResponse& response,
                                              const PrivateRangePolicy& ranges);

}  // namespace matchlock::net::policy
