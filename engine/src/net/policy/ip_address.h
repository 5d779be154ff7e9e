// An IPv4 or IPv6 address as a value: parsed from text (the guest's Host header, SNI, a flag)
// or from a sockaddr, compared by bytes, never by spelling.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace matchlock::net::policy {

class IpAddress {
 public:
  enum class Family { kV4, kV6 };

  // Accepts dotted-quad IPv4 ("10.0.0.1"; no octal, hex or short forms) and IPv6 in any RFC 4291
  // spelling, optionally in brackets ("[::1]"). Zone ids ("fe80::1%eth0"), ports and anything
  // else yield nullopt: such text is a name, not an address.
  static std::optional<IpAddress> parse(std::string_view text);
  // AF_INET / AF_INET6 only; nullopt for other families or a short length.
  static std::optional<IpAddress> from_sockaddr(const sockaddr* addr, socklen_t length);
  static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  static IpAddress v4_from_bytes(const uint8_t* bytes);  // 4 bytes, network order
  static IpAddress v6_from_bytes(const uint8_t* bytes);  // 16 bytes, network order

  Family family() const { return family_; }
  bool is_v4() const { return family_ == Family::kV4; }
  // First 4 (v4) or 16 (v6) bytes are meaningful.
  const std::array<uint8_t, 16>& bytes() const { return bytes_; }

  // The IPv4 address embedded in ::ffff:a.b.c.d (mapped); nullopt for anything else.
  std::optional<IpAddress> mapped_v4() const;
  // Mapped v4 becomes plain v4; everything else is returned unchanged. Two addresses name the
  // same endpoint iff their canonical forms are equal.
  IpAddress canonical() const;

  // "10.0.0.1", "2001:db8::1" (no brackets).
  std::string to_string() const;

  bool operator==(const IpAddress&) const = default;

 private:
  Family family_ = Family::kV4;
  std::array<uint8_t, 16> bytes_{};
};

}  // namespace matchlock::net::policy
