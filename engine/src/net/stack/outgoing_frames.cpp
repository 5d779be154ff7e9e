#include "net/stack/outgoing_frames.h"

#include <algorithm>

#include "net/stack/packet_info.h"
#include "net/stack/wire_bytes.h"

namespace matchlock::net {

using namespace wire;

OutgoingFrame inspect_outgoing(const uint8_t* frame, size_t len) {
  OutgoingFrame f;
  if (len < kEthernetHeaderBytes + 20 || be16(frame + 12) != kEtherTypeIpv4) return f;
  const uint8_t* ip = frame + kEthernetHeaderBytes;
  const size_t ihl = static_cast<size_t>(ip[0] & 0x0f) * 4;
  const size_t total = be16(ip + 2);
  if ((ip[0] >> 4) != 4 || ihl < 20 || total < ihl || kEthernetHeaderBytes + total > len) {
    return f;
  }
  f.ipv4 = true;
  f.proto = ip[9];
  const uint16_t flags_offset = be16(ip + 6);
  f.fragment = (flags_offset & (kIpv4MoreFragments | kIpv4OffsetMask)) != 0;
  f.dont_fragment = (flags_offset & kIpv4DontFragment) != 0;
  f.ip_header_bytes = ihl;
  if (f.proto == kProtoTcp && !f.fragment && total >= ihl + 20) {
    const size_t tcp_header = static_cast<size_t>(ip[ihl + 12] >> 4) * 4;
    if (tcp_header >= 20 && ihl + tcp_header <= total) {
      f.headers_bytes = kEthernetHeaderBytes + ihl + tcp_header;
    }
  }
  return f;
}

uint16_t tcp_segment_size(const OutgoingFrame& f, int mtu) {
  if (!f.ipv4 || f.headers_bytes == 0) return 0;
  const size_t headers = f.headers_bytes - kEthernetHeaderBytes;
  if (mtu <= 0 || static_cast<size_t>(mtu) <= headers) return 0;
  return static_cast<uint16_t>(std::min<size_t>(static_cast<size_t>(mtu) - headers, 0xffff));
}

std::vector<std::string> ipv4_fragments(const uint8_t* frame, size_t len, int mtu) {
  std::vector<std::string> out;
  const OutgoingFrame f = inspect_outgoing(frame, len);
  if (!f.ipv4 || f.dont_fragment || mtu <= 0) return out;
  const uint8_t* ip = frame + kEthernetHeaderBytes;
  const size_t ihl = f.ip_header_bytes;
  const size_t payload = be16(ip + 2) - ihl;
  if (static_cast<size_t>(mtu) < ihl + 8) return out;
  const size_t step = (static_cast<size_t>(mtu) - ihl) / 8 * 8;  // offsets count 8-byte units
  const uint16_t original = be16(ip + 6);
  const size_t base_units = original & kIpv4OffsetMask;
  const uint8_t* data = ip + ihl;
  for (size_t at = 0; at < payload; at += step) {
    const size_t n = std::min(step, payload - at);
    const bool last = at + n == payload;
    const size_t units = base_units + at / 8;
    if (units > kIpv4OffsetMask) return {};  // beyond what an offset can say: not sendable
    std::string piece(kEthernetHeaderBytes + ihl + n, '\0');
    auto* p = reinterpret_cast<uint8_t*>(piece.data());
    std::copy_n(frame, kEthernetHeaderBytes + ihl, p);
    uint8_t* h = p + kEthernetHeaderBytes;
    put_be16(h + 2, static_cast<uint16_t>(ihl + n));
    // The last piece keeps the original's MF (the datagram may itself be a fragment).
    const uint16_t more = last ? (original & kIpv4MoreFragments) : kIpv4MoreFragments;
    put_be16(h + 6, static_cast<uint16_t>(more | units));
    put_be16(h + 10, 0);
    put_be16(h + 10, static_cast<uint16_t>(~fold(sum16(h, ihl))));
    std::copy_n(data + at, n, h + ihl);
    out.push_back(std::move(piece));
  }
  return out;
}

}  // namespace matchlock::net
