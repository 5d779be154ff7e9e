// Frames the stack sends to the guest, looked at just before they reach the NIC. lwIP never
// fragments (its netif MTU is 0) and may hand over a TCP segment larger than the guest's MTU
// (the segments of a connection whose NIC takes large TCP segments: LwipStack::widen_segments).
// Here such a frame is either passed on whole with its segment size, for the guest's driver to
// take as many segments, or, for anything else above the MTU (a large UDP datagram, an ICMP echo
// reply), cut into IPv4 fragments as lwIP would have.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace matchlock::net {

inline constexpr size_t kEthernetHeaderBytes = 14;

struct OutgoingFrame {
  bool ipv4 = false;
  uint8_t proto = 0;           // IPv4 protocol number
  bool fragment = false;       // more fragments, or a fragment offset
  bool dont_fragment = false;  // DF
  size_t ip_header_bytes = 0;
  size_t headers_bytes = 0;  // Ethernet + IPv4 + TCP headers (a whole TCP segment only), else 0
};

// What the frame is; a frame too short for its headers is not IPv4 (ipv4 false).
OutgoingFrame inspect_outgoing(const uint8_t* frame, size_t len);

// The payload bytes per segment that keep each of a TCP frame's segments within `mtu`, or 0 when
// the frame is not one whole IPv4 TCP segment.
uint16_t tcp_segment_size(const OutgoingFrame& f, int mtu);

// The frame as IPv4 fragments of at most `mtu` bytes each (Ethernet header included in each,
// not counted in `mtu`). Empty when it cannot be fragmented: not IPv4, DF set, or an MTU too
// small for the header and 8 bytes.
std::vector<std::string> ipv4_fragments(const uint8_t* frame, size_t len, int mtu);

}  // namespace matchlock::net
