// Shared by the HTTP and TLS harnesses: what the policy may be handed as a host.
#pragma once

#include <string_view>

#include "fuzz_check.h"
#include "net/policy/host_name.h"
#include "net/policy/ip_address.h"

namespace matchlock::fuzz {

// A normalized host name or an IP literal: the only spellings the allow-list matches against.
inline void check_policy_host(std::string_view host) {
  FUZZ_CHECK(net::policy::is_valid_host_name(host) || net::policy::IpAddress::parse(host));
}

}  // namespace matchlock::fuzz
