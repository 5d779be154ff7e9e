// Frames above the guest's MTU on their way out: TCP segment sizes for the offload and IPv4
// fragments for anything else.
#include "net/stack/outgoing_frames.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <string>

using namespace matchlock::net;

namespace {

// Ethernet + IPv4 (20 bytes) + `proto`'s bytes: `payload` bytes after the IPv4 header.
std::string ipv4_frame(uint8_t proto, size_t payload, uint16_t flags_offset = 0) {
  std::string f(14 + 20 + payload, '\0');
  f[12] = 0x08;
  auto* ip = reinterpret_cast<uint8_t*>(f.data() + 14);
  ip[0] = 0x45;
  ip[2] = static_cast<uint8_t>((20 + payload) >> 8);
  ip[3] = static_cast<uint8_t>(20 + payload);
  ip[4] = 0x12;  // identification, kept by every fragment
  ip[5] = 0x34;
  ip[6] = static_cast<uint8_t>(flags_offset >> 8);
  ip[7] = static_cast<uint8_t>(flags_offset);
  ip[8] = 64;
  ip[9] = proto;
  if (proto == 6 && payload >= 20) ip[20 + 12] = 0x50;
  for (size_t i = 0; i < payload; ++i) f[34 + i] = static_cast<char>(i * 7);
  return f;
}
const uint8_t* u8(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}
uint16_t be16(const std::string& s, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(s[at]) << 8) |
                               static_cast<uint8_t>(s[at + 1]));
}
bool header_checksum_ok(const std::string& frame) {
  uint32_t sum = 0;
  for (size_t i = 14; i < 34; i += 2) sum += be16(frame, i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

}  // namespace

TEST_CASE("a_whole_tcp_segment_is_cut_into_mtu_sized_segments", "[net]") {
  const std::string f = ipv4_frame(6, 20 + 10000);
  const OutgoingFrame info = inspect_outgoing(u8(f), f.size());
  CHECK(info.ipv4);
  CHECK(info.headers_bytes == 54);
  CHECK(tcp_segment_size(info, 1500) == 1460);
  CHECK(tcp_segment_size(info, 9000) == 8960);
}

TEST_CASE("only_a_whole_ipv4_tcp_segment_has_a_segment_size", "[net]") {
  const std::string udp = ipv4_frame(17, 3000);
  CHECK(tcp_segment_size(inspect_outgoing(u8(udp), udp.size()), 1500) == 0);
  const std::string fragment = ipv4_frame(6, 3000, 0x2000);  // MF
  CHECK(tcp_segment_size(inspect_outgoing(u8(fragment), fragment.size()), 1500) == 0);
  std::string arp(60, '\0');
  arp[12] = 0x08;
  arp[13] = 0x06;
  CHECK_FALSE(inspect_outgoing(u8(arp), arp.size()).ipv4);
  const std::string cut = ipv4_frame(6, 3000).substr(0, 100);  // shorter than its IPv4 length
  CHECK_FALSE(inspect_outgoing(u8(cut), cut.size()).ipv4);
}

TEST_CASE("a_datagram_above_the_mtu_leaves_as_ipv4_fragments", "[net]") {
  const std::string f = ipv4_frame(17, 4000);
  const auto pieces = ipv4_fragments(u8(f), f.size(), 1500);
  REQUIRE(pieces.size() == 3);
  std::string payload;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& p = pieces[i];
    CHECK(p.size() - 14 <= 1500);
    CHECK(p.substr(0, 14) == f.substr(0, 14));
    CHECK(be16(p, 14 + 4) == 0x1234);
    CHECK(be16(p, 14 + 2) == p.size() - 14);
    const uint16_t flags_offset = be16(p, 14 + 6);
    CHECK((flags_offset & 0x1fff) * 8 == payload.size());
    CHECK(((flags_offset & 0x2000) != 0) == (i + 1 < pieces.size()));
    CHECK(header_checksum_ok(p));
    payload += p.substr(34);
  }
  CHECK((pieces[0].size() - 34) % 8 == 0);
  CHECK(payload == f.substr(34));
}

TEST_CASE("a_fragment_cut_again_keeps_its_offset_and_more_fragments_flag", "[net]") {
  const std::string f = ipv4_frame(17, 3000, 0x2000 | 100);  // MF, offset 800 bytes
  const auto pieces = ipv4_fragments(u8(f), f.size(), 1500);
  REQUIRE(pieces.size() == 3);
  CHECK((be16(pieces[0], 20) & 0x1fff) == 100);
  CHECK((be16(pieces.back(), 20) & 0x2000) != 0);  // the original was not the last either
}

TEST_CASE("a_datagram_marked_dont_fragment_or_not_ipv4_is_not_fragmented", "[net]") {
  const std::string df = ipv4_frame(17, 4000, 0x4000);
  CHECK(ipv4_fragments(u8(df), df.size(), 1500).empty());
  std::string other(3000, '\0');
  CHECK(ipv4_fragments(u8(other), other.size(), 1500).empty());
  const std::string f = ipv4_frame(17, 4000);
  CHECK(ipv4_fragments(u8(f), f.size(), 20).empty());  // no room for 8 bytes after the header
}
