// Which destination addresses the engine refuses to dial in interception mode.
//
// CONTRACT for the caller (the stack): check the exact address you are about to connect() to,
// after any resolution, and then dial exactly that address — never the name again, never a
// second lookup. Resolving, checking and re-resolving is the DNS-rebinding hole the original
// had. The same applies to every address of a multi-address answer you may try.
//
// Blocked: 0.0.0.0/8, 10/8, 100.64/10 (CGNAT), 127/8, 169.254/16, 172.16/12, 192.168/16,
// 224/4 multicast and 240/4 reserved (incl. 255.255.255.255; not dialable over TCP anyway),
// ::, ::1, fc00::/7, fe80::/10, ff00::/8, and the IPv4-mapped (::ffff:a.b.c.d) and
// IPv4-compatible (::a.b.c.d) forms of every v4 range.
//
// Host loopback — 127/8, ::1, and 0/8 and :: (connect() to 0.0.0.0 reaches the local host on
// Linux), in any v6 form — is blocked in every mode, NAT included, and no exception lifts it.
#pragma once

#include <sys/socket.h>

#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/ip_address.h"

namespace matchlock::net::policy {

// In a private or reserved range (the list above), exceptions not considered.
bool is_private_address(const IpAddress& address);
// The host's own loopback in any spelling; unreachable from the guest in every mode.
bool is_host_loopback_address(const IpAddress& address);

class PrivateRangePolicy {
 public:
  // Parses one --allow-private-host value: a single IP address (no names, no CIDR). The host's
  // loopback is refused with an error naming the flag and the value.
  static Result<IpAddress> parse_exception(std::string_view text);

  void add_exception(const IpAddress& address) { exceptions_.push_back(address.canonical()); }

  // True if dialling `address` must be refused: loopback always; other private or reserved
  // addresses unless named by an exception (compared in canonical form, so an exception for
  // 10.0.0.5 also covers ::ffff:10.0.0.5).
  bool is_blocked_address(const IpAddress& address) const;
  // Convenience forms; unparsable text and non-IP families are blocked (fail closed).
  bool is_blocked_address(std::string_view text) const;
  bool is_blocked_address(const sockaddr* addr, socklen_t length) const;

 private:
  std::vector<IpAddress> exceptions_;
};

}  // namespace matchlock::net::policy
