// The responses the proxy makes up itself (a Reply from policy, or its own 400/413/502).
#pragma once

#include <string>

#include "net/proxy/exchange_policy.h"

namespace matchlock::net::proxy {

// A complete HTTP/1.1 response with Connection: close. 403 says "Blocked by policy" and names
// `host` (or the address); the reason is policy text, never a secret (exchange_policy.h).
std::string render_reply(const Reply& reply, const std::string& host);

}  // namespace matchlock::net::proxy
