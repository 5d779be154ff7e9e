#include "net/policy/private_ranges.h"

#include <algorithm>
#include <cstdint>

namespace matchlock::net::policy {
namespace {

struct Prefix {
  uint8_t bytes[16];
  unsigned bits;
};

// Matches the first `bits` bits of `address` against `prefix`.
bool in_prefix(const uint8_t* address, const Prefix& prefix) {
  unsigned full = prefix.bits / 8;
  for (unsigned i = 0; i < full; ++i) {
    if (address[i] != prefix.bytes[i]) return false;
  }
  unsigned rest = prefix.bits % 8;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (address[full] & mask) == (prefix.bytes[full] & mask);
}

constexpr Prefix kPrivateV4[] = {
    {{0}, 8},        {{10}, 8},        {{100, 64}, 10}, {{127}, 8}, {{169, 254}, 16},
    {{172, 16}, 12}, {{192, 168}, 16}, {{224}, 4},      {{240}, 4},
};
constexpr Prefix kLoopbackV4[] = {{{0}, 8}, {{127}, 8}};

constexpr Prefix kPrivateV6[] = {
    {{0xfc}, 7},
    {{0xfe, 0x80}, 10},
    {{0xff}, 8},
};

bool any_prefix(const uint8_t* address, const Prefix* begin, const Prefix* end) {
  return std::any_of(begin, end, [&](const Prefix& p) { return in_prefix(address, p); });
}

// The v4 address inside ::ffff:a.b.c.d or ::a.b.c.d (deprecated "compatible" form, which some
// stacks still route to v4). :: and ::1 are handled on their own, not as 0.0.0.0 / 0.0.0.1.
std::optional<IpAddress> embedded_v4(const IpAddress& address) {
  if (auto mapped = address.mapped_v4()) return mapped;
  const auto& b = address.bytes();
  for (int i = 0; i < 12; ++i) {
    if (b[i] != 0) return std::nullopt;
  }
  return IpAddress::v4_from_bytes(b.data() + 12);
}

bool is_unspecified_or_loopback_v6(const IpAddress& address) {
  const auto& b = address.bytes();
  for (int i = 0; i < 15; ++i) {
    if (b[i] != 0) return false;
  }
  return b[15] == 0 || b[15] == 1;
}

}  // namespace

bool is_host_loopback_address(const IpAddress& address) {
  if (address.is_v4()) {
    return any_prefix(address.bytes().data(), std::begin(kLoopbackV4), std::end(kLoopbackV4));
  }
  if (is_unspecified_or_loopback_v6(address)) return true;
  if (auto v4 = embedded_v4(address)) return is_host_loopback_address(*v4);
  return false;
}

bool is_private_address(const IpAddress& address) {
  if (address.is_v4()) {
    return any_prefix(address.bytes().data(), std::begin(kPrivateV4), std::end(kPrivateV4));
  }
  if (is_unspecified_or_loopback_v6(address)) return true;
  if (auto v4 = embedded_v4(address)) return is_private_address(*v4);
  return any_prefix(address.bytes().data(), std::begin(kPrivateV6), std::end(kPrivateV6));
}

Result<IpAddress> PrivateRangePolicy::parse_exception(std::string_view text) {
  auto address = IpAddress::parse(text);
  if (!address) {
    return invalid_argument("invalid --allow-private-host \"" + std::string(text) +
                            "\": expected an IP address");
  }
  if (is_host_loopback_address(*address)) {
    return invalid_argument("invalid --allow-private-host \"" + std::string(text) +
                            "\": the host's loopback is never reachable from the guest");
  }
  return *address;
}

bool PrivateRangePolicy::is_blocked_address(const IpAddress& address) const {
  if (is_host_loopback_address(address)) return true;
  if (!is_private_address(address)) return false;
  IpAddress canonical = address.canonical();
  return std::find(exceptions_.begin(), exceptions_.end(), canonical) == exceptions_.end();
}

bool PrivateRangePolicy::is_blocked_address(std::string_view text) const {
  auto address = IpAddress::parse(text);
  return !address || is_blocked_address(*address);
}

bool PrivateRangePolicy::is_blocked_address(const sockaddr* addr, socklen_t length) const {
  auto address = IpAddress::from_sockaddr(addr, length);
  return !address || is_blocked_address(*address);
}

}  // namespace matchlock::net::policy
