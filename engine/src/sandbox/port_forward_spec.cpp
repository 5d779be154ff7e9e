#include "sandbox/port_forward_spec.h"

#include <arpa/inet.h>
#include <netinet/in.h>

namespace matchlock::sandbox {
namespace {

// A decimal port without sign or spaces; `min` is 0 for host ports (a free port), else 1.
Result<uint16_t> parse_port(std::string_view text, std::string_view what, uint32_t min) {
  if (text.empty() || text.size() > 5 ||
      text.find_first_not_of("0123456789") != std::string_view::npos) {
    return invalid_argument(std::string(what) + " \"" + std::string(text) + "\" is not a number");
  }
  uint32_t value = 0;
  for (char c : text) value = value * 10 + static_cast<uint32_t>(c - '0');
  if (value < min || value > 65535) {
    return invalid_argument(std::string(what) + " " + std::string(text) + " is out of range (" +
                            std::to_string(min) + "-65535)");
  }
  return static_cast<uint16_t>(value);
}

}  // namespace

Result<std::string> parse_listen_address(std::string_view address) {
  std::string text(address);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
  }
  if (text == "localhost") return std::string("127.0.0.1");
  char canonical[INET6_ADDRSTRLEN] = {};
  in_addr v4{};
  in6_addr v6{};
  if (text.find(':') == std::string::npos && ::inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    ::inet_ntop(AF_INET, &v4, canonical, sizeof canonical);
    return std::string(canonical);
  }
  if (::inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    ::inet_ntop(AF_INET6, &v6, canonical, sizeof canonical);
    return std::string(canonical);
  }
  return invalid_argument("address \"" + std::string(address) +
                          "\" is not an IP address (or localhost)");
}

Result<PortForwardSpec> parse_port_forward_spec(std::string_view spec) {
  auto fail = [&](const Error& e) {
    return Error(e.code, "invalid port forward \"" + std::string(spec) + "\": " + e.message);
  };
  // Ports are the last one or two ':'-separated fields; whatever precedes them is the address
  // (an IPv6 literal must be bracketed, so its own colons are not mistaken for separators).
  std::string_view rest = spec;
  std::optional<std::string_view> address;
  if (!rest.empty() && rest.front() == '[') {
    size_t close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return fail(invalid_argument("expected [ADDR]:HOST:GUEST"));
    }
    address = rest.substr(0, close + 1);
    rest = rest.substr(close + 2);
    if (rest.find(':') == std::string_view::npos) {
      return fail(invalid_argument("expected [ADDR]:HOST:GUEST"));
    }
  }
  size_t last = rest.rfind(':');
  std::string_view guest_text = last == std::string_view::npos ? rest : rest.substr(last + 1);
  std::optional<std::string_view> host_text;
  if (last != std::string_view::npos) {
    std::string_view front = rest.substr(0, last);
    size_t prev = front.rfind(':');
    if (prev == std::string_view::npos) {
      host_text = front;
    } else {
      if (address) return fail(invalid_argument("expected [ADDR]:HOST:GUEST"));
      address = front.substr(0, prev);
      host_text = front.substr(prev + 1);
      if (address->find(':') != std::string_view::npos) {
        return fail(invalid_argument("an IPv6 address must be in brackets: [ADDR]:HOST:GUEST"));
      }
    }
  }

  PortForwardSpec out;
  auto guest = parse_port(guest_text, "guest port", 1);
  if (!guest) return fail(guest.error());
  out.guest_port = *guest;
  out.host_port = out.guest_port;
  if (host_text) {
    auto host = parse_port(*host_text, "host port", 0);
    if (!host) return fail(host.error());
    out.host_port = *host;
  }
  if (address) {
    auto parsed = parse_listen_address(*address);
    if (!parsed) return fail(parsed.error());
    out.address = *parsed;
  }
  return out;
}

std::vector<PortForwardRule> port_forward_rules(const std::vector<PortForwardSpec>& specs,
                                                const std::vector<std::string>& default_addresses) {
  const std::vector<std::string> fallback = {"127.0.0.1"};
  const auto& addresses = default_addresses.empty() ? fallback : default_addresses;
  std::vector<PortForwardRule> rules;
  for (const auto& spec : specs) {
    if (spec.address) {
      rules.push_back({*spec.address, spec.host_port, spec.guest_port});
      continue;
    }
    for (const auto& a : addresses) rules.push_back({a, spec.host_port, spec.guest_port});
  }
  return rules;
}

}  // namespace matchlock::sandbox
