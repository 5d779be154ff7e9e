// Applies the host's CONFIG message (hostname, hosts, resolv.conf, clock) to the guest.
#pragma once

#include <string_view>

#include "core/result.h"

namespace matchlock::guest_agent {

// `payload` is the CONFIG JSON; any malformed field is an error, reported back as ERROR.
Status apply_config(std::string_view payload);

}  // namespace matchlock::guest_agent
