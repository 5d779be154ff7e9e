// Reading and writing the network byte order fields of Ethernet, IPv4, TCP and UDP headers, and
// the Internet checksum (RFC 1071), for the code that looks at frames around lwIP: what the
// guest sends (packet_info) and what the stack sends it (outgoing_frames).
#pragma once

#include <cstddef>
#include <cstdint>

namespace matchlock::net::wire {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
// IPv4's flags and fragment offset field.
inline constexpr uint16_t kIpv4DontFragment = 0x4000;
inline constexpr uint16_t kIpv4MoreFragments = 0x2000;
inline constexpr uint16_t kIpv4OffsetMask = 0x1fff;

inline uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline void put_be16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The one's-complement sum of `n` bytes as 16-bit words, added to `acc` (not folded).
inline uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += be16(p + i);
  if (n & 1) acc += uint32_t{p[n - 1]} << 8;
  return acc;
}
inline uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

}  // namespace matchlock::net::wire
