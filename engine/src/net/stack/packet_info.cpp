#include "net/stack/packet_info.h"

namespace matchlock::net {
namespace {

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += be16(p + i);
  if (n & 1) acc += uint32_t{p[n - 1]} << 8;
  return acc;
}

uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}

// Policy acts on a SYN before lwIP validates it, so verify what lwIP would verify: a guest
// must not get a connection dialled with a packet lwIP itself would discard.
bool transport_checksum_ok(const uint8_t* ip, const uint8_t* t, size_t tn, uint8_t proto) {
  uint32_t acc = sum16(ip + 12, 8);  // source and destination
  acc += proto;
  acc += static_cast<uint32_t>(tn);
  acc = sum16(t, tn, acc);
  return fold(acc) == 0xffff;
}

}  // namespace

PacketInfo parse_packet(const uint8_t* f, size_t len) {
  PacketInfo info;
  if (len < 14) return info;
  uint16_t ethertype = be16(f + 12);
  const uint8_t* p = f + 14;
  size_t n = len - 14;
  if (ethertype == 0x0806) {
    if (n < 28) return info;
    info.kind = PacketInfo::Kind::kArp;
    info.arp_request = be16(p + 6) == 1;
    info.arp_target = be32(p + 24);
    return info;
  }
  if (ethertype != 0x0800 || n < 20 || (p[0] >> 4) != 4) return info;
  size_t ihl = (p[0] & 0x0f) * 4u;
  size_t total = be16(p + 2);
  if (ihl < 20 || total < ihl || total > n) return info;
  info.kind = PacketInfo::Kind::kIpv4;
  bool ip_ok = fold(sum16(p, ihl)) == 0xffff;
  info.proto = p[9];
  info.src = be32(p + 12);
  info.dst = be32(p + 16);
  uint16_t frag = be16(p + 6);
  info.fragment = (frag & 0x2000) != 0 || (frag & 0x1fff) != 0;
  if ((frag & 0x1fff) != 0) {  // not the first fragment: no transport header
    info.checksums_ok = ip_ok;
    return info;
  }
  const uint8_t* t = p + ihl;
  size_t tn = total - ihl;
  if (info.proto == kProtoTcp && tn >= 20) {
    info.has_ports = true;
    info.sport = be16(t);
    info.dport = be16(t + 2);
    info.tcp_seq = be32(t + 4);
    info.tcp_flags = t[13];
    info.checksums_ok = ip_ok && !info.fragment && transport_checksum_ok(p, t, tn, kProtoTcp);
  } else if (info.proto == kProtoUdp && tn >= 8) {
    info.has_ports = true;
    info.sport = be16(t);
    info.dport = be16(t + 2);
    // UDP checksum 0 means "none" (IPv4).
    info.checksums_ok =
        ip_ok && (be16(t + 6) == 0 || info.fragment || transport_checksum_ok(p, t, tn, kProtoUdp));
  } else {
    info.checksums_ok = ip_ok;
  }
  return info;
}

}  // namespace matchlock::net
