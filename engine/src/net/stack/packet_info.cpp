#include "net/stack/packet_info.h"

#include "net/stack/wire_bytes.h"

namespace matchlock::net {
namespace {

using namespace wire;

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
  if (ethertype == kEtherTypeArp) {
    if (n < 28) return info;
    info.kind = PacketInfo::Kind::kArp;
    info.arp_request = be16(p + 6) == 1;
    info.arp_target = be32(p + 24);
    return info;
  }
  if (ethertype != kEtherTypeIpv4 || n < 20 || (p[0] >> 4) != 4) return info;
  size_t ihl = (p[0] & 0x0f) * 4u;
  size_t total = be16(p + 2);
  if (ihl < 20 || total < ihl || total > n) return info;
  info.kind = PacketInfo::Kind::kIpv4;
  bool ip_ok = fold(sum16(p, ihl)) == 0xffff;
  info.proto = p[9];
  info.src = be32(p + 12);
  info.dst = be32(p + 16);
  uint16_t frag = be16(p + 6);
  info.fragment = (frag & (kIpv4MoreFragments | kIpv4OffsetMask)) != 0;
  if ((frag & kIpv4OffsetMask) != 0) {  // not the first fragment: no transport header
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
