// What the interception proxy needs from the sandbox's policy side, in one place: the TLS
// contexts (guest-facing with the sandbox CA's leaves, upstream verifying the real servers),
// the ExchangePolicy, and the address checks of interception mode. Owned by InterceptPolicy
// (null in NAT mode: PolicyHook::mitm()); the proxy endpoints only borrow it.
#pragma once

#include <openssl/ssl.h>
#include <uv.h>

#include <cstdint>
#include <string>

#include "net/proxy/exchange_policy.h"

namespace matchlock::net::proxy {

class MitmServices {
 public:
  virtual ~MitmServices() = default;
  virtual SSL_CTX& guest_facing_context() = 0;
  virtual SSL_CTX& upstream_context() = 0;
  virtual ExchangePolicy& exchange_policy() = 0;
  // The connection-level gate for a TLS connection naming `sni` (host order `ip`, `port`):
  // the policy lets it through and `ip` may be dialled for it. The proxy asks before it dials
  // an upstream ahead of any request (to learn its ALPN); requests are still decided one by one.
  virtual bool may_connect(uint32_t ip, uint16_t port, const std::string& sni) = 0;
  // PolicyHook::may_dial: `ip` (host order) may be dialled for a request naming `host`.
  virtual bool may_dial(uint32_t ip, const std::string& host) = 0;
  // `host` when a DNS answer (or --add-host) gave the guest `ip` for it, else "".
  virtual std::string dns_name_for(uint32_t ip, const std::string& host) = 0;
  // Per sandbox, increasing, from 1.
  virtual uint64_t next_exchange_id() = 0;
};

}  // namespace matchlock::net::proxy
