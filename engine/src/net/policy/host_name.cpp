#include "net/policy/host_name.h"

#include "net/policy/ip_address.h"

namespace matchlock::net::policy {
namespace {

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool is_valid_port(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  unsigned value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  return value <= 65535;
}

// A host that is either an IP literal (returned in canonical text) or a valid name.
std::optional<std::string> accept_host(std::string_view host) {
  if (auto ip = IpAddress::parse(host)) return ip->to_string();
  std::string normalized = normalize_host_name(host);
  if (!is_valid_host_name(normalized)) return std::nullopt;
  return normalized;
}

}  // namespace

std::string normalize_host_name(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  std::string out(host);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool is_valid_host_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostNameLength) return false;
  size_t label_length = 0;
  for (char c : name) {
    if (c == '.') {
      if (label_length == 0) return false;
      label_length = 0;
      continue;
    }
    if (!is_label_char(c)) return false;
    if (++label_length > kMaxLabelLength) return false;
  }
  return label_length != 0;
}

std::optional<std::string> host_from_authority(std::string_view authority) {
  if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
  if (authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !is_valid_port(rest.substr(1)))) {
      return std::nullopt;
    }
    auto ip = IpAddress::parse(authority.substr(0, close + 1));
    if (!ip || ip->is_v4()) return std::nullopt;
    return ip->to_string();
  }
  size_t first_colon = authority.find(':');
  if (first_colon == std::string_view::npos) return accept_host(authority);
  if (authority.find(':', first_colon + 1) != std::string_view::npos) {
    // Several colons and no brackets: only a bare IPv6 literal makes sense (never "split on
    // the first ':'", which is how "::1" used to become "").
    auto ip = IpAddress::parse(authority);
    if (!ip || ip->is_v4()) return std::nullopt;
    return ip->to_string();
  }
  if (!is_valid_port(authority.substr(first_colon + 1))) return std::nullopt;
  return accept_host(authority.substr(0, first_colon));
}

}  // namespace matchlock::net::policy
