// A read-only look at a guest frame's headers, taken before lwIP sees it: which address to
// deliver it as (the address swap) and whether policy must see it first (SYN, UDP, ICMP).
#pragma once

#include <cstddef>
#include <cstdint>

namespace matchlock::net {

struct PacketInfo {
  enum class Kind { kOther, kArp, kIpv4 };
  Kind kind = Kind::kOther;
  uint32_t arp_target = 0;  // ARP request: the address asked for
  bool arp_request = false;
  uint32_t src = 0, dst = 0;  // IPv4, host order
  uint8_t proto = 0;          // 1 ICMP, 6 TCP, 17 UDP
  bool fragment = false;      // any IPv4 fragment (ports unknown or partial)
  bool has_ports = false;
  uint16_t sport = 0, dport = 0;
  uint8_t tcp_flags = 0;
  uint32_t tcp_seq = 0;
  bool checksums_ok = false;  // IPv4 header and (TCP/UDP) transport checksums verified
};

inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpAck = 0x10;
inline constexpr uint8_t kProtoIcmp = 1, kProtoTcp = 6, kProtoUdp = 17;

// Never reads past `len`; malformed headers yield Kind::kOther (lwIP then drops them).
PacketInfo parse_packet(const uint8_t* frame, size_t len);

}  // namespace matchlock::net
