// The guest link's fixed addressing: the same for every sandbox, because the link never leaves
// the engine process (no host routes, no per-VM host state to leak). Addresses are host order.
#pragma once

#include <cstdint>
#include <string>

namespace matchlock::net {

inline constexpr uint32_t ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

inline constexpr uint32_t kGuestIp = ipv4(192, 168, 127, 15);
inline constexpr uint32_t kGatewayIp = ipv4(192, 168, 127, 2);
inline constexpr uint32_t kSinkholeIp = ipv4(192, 168, 127, 3);  // DNS answer for blocked names
inline constexpr int kGuestPrefix = 24;
inline constexpr uint8_t kGuestMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
inline constexpr uint8_t kGatewayMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x02};
inline constexpr int kMaxMtu = 65520;  // lwIP pbuf lengths are u16: frame <= 65535

// An IPv4 address and port (host order).
struct Endpoint {
  uint32_t ip = 0;
  uint16_t port = 0;
};

std::string ipv4_text(uint32_t ip);
// Parses dotted-quad IPv4 text; false if it is not one.
bool parse_ipv4(const std::string& text, uint32_t* out);

// Addresses the engine never dials on the guest's behalf in any mode: the host's loopback and
// its aliases (0.0.0.0/8 reaches loopback on Linux), the guest link itself, multicast and
// broadcast.
bool never_relay(uint32_t ip);

}  // namespace matchlock::net
