// The name a certificate is minted for (guest side) or checked against (upstream side).
//
// THREAT MODEL: the guest chooses its SNI, so this text is hostile. It is accepted only as an
// IP literal or as a host name of the strict policy grammar (net/policy/host_name.h: labels of
// [a-z0-9-_], <= 63 each, <= 253 in all, after lowercasing and dropping one trailing dot).
// Anything else - empty, too long, NUL, spaces, ',', '*', non-ASCII - is refused, never
// repaired, so no certificate is ever minted for a wildcard or for text that could be read as
// more than one name.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "net/policy/ip_address.h"

namespace matchlock::net::tls {

struct ServerName {
  // Normalized: a lowercase host name, or the canonical text of `ip`.
  std::string text;
  // Set when the name is an IP literal: the certificate then carries an IP SAN, not a DNS one.
  std::optional<policy::IpAddress> ip;
};

// kInvalidArgument (naming the reason, not echoing the text) for anything not accepted above.
Result<ServerName> parse_server_name(std::string_view text);

}  // namespace matchlock::net::tls
