#include "net/tls/server_name.h"

#include "net/policy/host_name.h"

namespace matchlock::net::tls {

Result<ServerName> parse_server_name(std::string_view text) {
  if (text.empty()) return invalid_argument("TLS server name is empty");
  // One trailing dot is allowed on top of the 253 characters of a name.
  if (text.size() > policy::kMaxHostNameLength + 1) {
    return invalid_argument("TLS server name is longer than 253 characters");
  }
  if (auto ip = policy::IpAddress::parse(text)) {
    policy::IpAddress canonical = ip->canonical();
    return ServerName{canonical.to_string(), canonical};
  }
  std::string name = policy::normalize_host_name(text);
  if (!policy::is_valid_host_name(name)) {
    return invalid_argument("TLS server name is not a valid host name");
  }
  return ServerName{std::move(name), std::nullopt};
}

}  // namespace matchlock::net::tls
