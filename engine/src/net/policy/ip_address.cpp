#include "net/policy/ip_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

namespace matchlock::net::policy {
namespace {

// Longest IPv6 text is 45 chars ("ffff:...:255.255.255.255"); brackets add two. Longer input
// is a name, and the cap keeps the copy into a NUL-terminated buffer bounded.
constexpr size_t kMaxAddressText = 47;

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
    text = text.substr(1, text.size() - 2);
    if (text.find(':') == std::string_view::npos) return std::nullopt;  // "[1.2.3.4]" is not v6
  }
  if (text.empty() || text.size() > kMaxAddressText) return std::nullopt;
  char buffer[kMaxAddressText + 1];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  if (std::memchr(buffer, '\0', text.size()) != nullptr) return std::nullopt;  // embedded NUL

  IpAddress out;
  if (text.find(':') == std::string_view::npos) {
    if (inet_pton(AF_INET, buffer, out.bytes_.data()) != 1) return std::nullopt;
    out.family_ = Family::kV4;
  } else {
    if (inet_pton(AF_INET6, buffer, out.bytes_.data()) != 1) return std::nullopt;
    out.family_ = Family::kV6;
  }
  return out;
}

std::optional<IpAddress> IpAddress::from_sockaddr(const sockaddr* addr, socklen_t length) {
  if (addr == nullptr) return std::nullopt;
  if (addr->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
    sockaddr_in in4;
    std::memcpy(&in4, addr, sizeof(in4));
    return v4_from_bytes(reinterpret_cast<const uint8_t*>(&in4.sin_addr));
  }
  if (addr->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
    sockaddr_in6 in6;
    std::memcpy(&in6, addr, sizeof(in6));
    return v6_from_bytes(reinterpret_cast<const uint8_t*>(&in6.sin6_addr));
  }
  return std::nullopt;
}

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  const uint8_t bytes[4] = {a, b, c, d};
  return v4_from_bytes(bytes);
}

IpAddress IpAddress::v4_from_bytes(const uint8_t* bytes) {
  IpAddress out;
  out.family_ = Family::kV4;
  std::memcpy(out.bytes_.data(), bytes, 4);
  return out;
}

IpAddress IpAddress::v6_from_bytes(const uint8_t* bytes) {
  IpAddress out;
  out.family_ = Family::kV6;
  std::memcpy(out.bytes_.data(), bytes, 16);
  return out;
}

std::optional<IpAddress> IpAddress::mapped_v4() const {
  if (family_ != Family::kV6) return std::nullopt;
  for (int i = 0; i < 10; ++i) {
    if (bytes_[i] != 0) return std::nullopt;
  }
  if (bytes_[10] != 0xff || bytes_[11] != 0xff) return std::nullopt;
  return v4_from_bytes(bytes_.data() + 12);
}

IpAddress IpAddress::canonical() const {
  if (auto v4 = mapped_v4()) return *v4;
  return *this;
}

std::string IpAddress::to_string() const {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(family_ == Family::kV4 ? AF_INET : AF_INET6, bytes_.data(), buffer, sizeof(buffer));
  return buffer;
}

}  // namespace matchlock::net::policy
