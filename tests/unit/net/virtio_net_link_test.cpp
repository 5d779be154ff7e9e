// The guest NIC served over vhost-user: the test plays QEMU (the front-end) and the guest's
// virtio-net driver (filling the receive ring, queue 0, and the transmit ring, queue 1).
#include "net/link/virtio_net_link.h"

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "virtio/vhost_user_front_end.h"

using namespace matchlock;
using namespace matchlock::net;
using namespace matchlock::virtio::test;

namespace {

constexpr uint64_t kGuestCsum = uint64_t{1} << 1;
constexpr uint64_t kGuestTso4 = uint64_t{1} << 7;
constexpr uint64_t kMrgRxbuf = uint64_t{1} << 15;
constexpr uint64_t kAllOffloads = kGuestCsum | kGuestTso4 | kMrgRxbuf;
constexpr size_t kMaxFrame = 1500 + 18;
constexpr uint32_t kRx = 0, kTx = 1;

// An Ethernet + IPv4 + TCP frame (20-byte headers, no options) with `payload` bytes.
std::string tcp_frame(size_t payload) {
  std::string f(14 + 20 + 20 + payload, '\0');
  f[12] = 0x08;  // IPv4
  auto* ip = reinterpret_cast<uint8_t*>(f.data() + 14);
  ip[0] = 0x45;
  const size_t total = 40 + payload;
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  ip[8] = 64;
  ip[9] = 6;
  ip[20 + 12] = 0x50;  // data offset: 5 words
  for (size_t i = 0; i < payload; ++i) f[54 + i] = static_cast<char>('a' + i % 26);
  return f;
}

uint16_t le16(const std::string& s, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(s[at]) |
                               (static_cast<uint8_t>(s[at + 1]) << 8));
}

class Nic : public VhostUserFrontEnd {
 public:
  std::unique_ptr<VirtioNetLink> link;
  std::vector<std::string> frames;  // what the guest transmitted, as the stack got it
  std::optional<Error> closed;
  uint16_t next_rx_desc = 0;

  explicit Nic(uint64_t features) : VhostUserFrontEnd(2) {
    GuestNic::Events ev;
    ev.on_frame = [this](const uint8_t* f, size_t n) {
      frames.emplace_back(reinterpret_cast<const char*>(f), n);
    };
    ev.on_closed = [this](const Error& e) { closed = e; };
    auto l = VirtioNetLink::open(&loop, std::move(backend_end), kMaxFrame, std::move(ev));
    REQUIRE(l.ok());
    link = std::move(l.value());
    bring_up(features);
  }
  ~Nic() {
    link.reset();
    close();
  }

  uint64_t rx_buffer_gpa(uint16_t desc) const { return GuestRing::kData + 4096 * uint64_t{desc}; }
  // The driver posts one receive buffer of `len` bytes (its own descriptor).
  uint16_t post_rx(uint32_t len) {
    const uint16_t d = next_rx_desc++;
    std::memset(ram.at(rx_buffer_gpa(d)), 0xee, len);
    rings[kRx].desc(d, rx_buffer_gpa(d), len, kWrite);
    rings[kRx].make_available(d);
    return d;
  }
  std::string rx_bytes(uint16_t desc, uint32_t len) { return ram.read(rx_buffer_gpa(desc), len); }

  // The driver transmits `frame` behind a 12-byte virtio-net header, in descriptor `d`.
  void transmit(const std::string& frame, uint16_t d = 0) {
    const uint64_t gpa = GuestRing::kData + kQueueShift + 4096 * uint64_t{d};
    ram.write(gpa, std::string(12, '\0') + frame);
    rings[kTx].desc(d, gpa, static_cast<uint32_t>(12 + frame.size()), 0);
    rings[kTx].make_available(d);
    kick(kTx);
    pump();
  }
  void to_guest(const std::string& frame, uint16_t segment = 0) {
    link->send(reinterpret_cast<const uint8_t*>(frame.data()), frame.size(), segment);
  }
};

}  // namespace

TEST_CASE("virtio_net_link_hands_a_transmitted_frame_to_the_stack_without_its_header", "[net]") {
  Nic nic(kAllOffloads);
  const std::string frame = tcp_frame(20);
  nic.transmit(frame);
  REQUIRE(nic.frames.size() == 1);
  CHECK(nic.frames[0] == frame);
  REQUIRE(nic.rings[kTx].used_idx() == 1);  // the buffer went back, nothing written in it
  CHECK(nic.rings[kTx].used(0) == std::pair<uint32_t, uint32_t>{0, 0});
  CHECK(nic.called(kTx));
}

TEST_CASE("virtio_net_link_refuses_a_transmitted_frame_larger_than_the_mtu", "[net]") {
  Nic nic(kAllOffloads);
  nic.transmit(tcp_frame(1500));  // 1554 bytes: above MTU + 18
  CHECK(nic.frames.empty());
  CHECK(nic.rings[kTx].used_idx() == 1);  // returned empty, not kept
  CHECK_FALSE(nic.closed);
  nic.transmit(tcp_frame(10), 1);  // the NIC goes on
  CHECK(nic.frames.size() == 1);
}

TEST_CASE("virtio_net_link_spreads_a_frame_over_buffers_and_publishes_them_at_once", "[net]") {
  Nic nic(kAllOffloads);
  for (int i = 0; i < 3; ++i) nic.post_rx(100);
  const std::string frame = tcp_frame(200);  // 254 bytes + a 12-byte header: three buffers
  nic.to_guest(frame);
  REQUIRE(nic.rings[kRx].used_idx() == 3);
  CHECK(nic.rings[kRx].used(0) == std::pair<uint32_t, uint32_t>{0, 100});
  CHECK(nic.rings[kRx].used(1) == std::pair<uint32_t, uint32_t>{1, 100});
  CHECK(nic.rings[kRx].used(2) == std::pair<uint32_t, uint32_t>{2, 66});
  const std::string got = nic.rx_bytes(0, 100) + nic.rx_bytes(1, 100) + nic.rx_bytes(2, 66);
  CHECK(got[0] == 2);         // DATA_VALID: lwIP computed the TCP checksum
  CHECK(got[1] == 0);         // no segmentation
  CHECK(le16(got, 10) == 3);  // num_buffers
  CHECK(got.substr(12) == frame);
  CHECK(nic.rx_bytes(2, 67).back() == static_cast<char>(0xee));  // nothing past the frame
  nic.pump();
  CHECK(nic.called(kRx));  // one interrupt, on the next loop pass
}

TEST_CASE("virtio_net_link_sends_a_large_tcp_segment_whole_with_its_segment_size", "[net]") {
  Nic nic(kAllOffloads);
  REQUIRE(nic.link->takes_large_tcp_segments());
  for (int i = 0; i < 2; ++i) nic.post_rx(4000);
  const std::string frame = tcp_frame(4 * 1460);
  nic.to_guest(frame, 1460);
  REQUIRE(nic.rings[kRx].used_idx() == 2);
  const std::string got = nic.rx_bytes(0, 4000) + nic.rx_bytes(1, 12 + frame.size() - 4000);
  CHECK(got[1] == 1);           // VIRTIO_NET_HDR_GSO_TCPV4
  CHECK(le16(got, 2) == 54);    // hdr_len: Ethernet, IPv4 and TCP headers
  CHECK(le16(got, 4) == 1460);  // gso_size
  CHECK(le16(got, 10) == 2);
  CHECK(got.substr(12) == frame);
}

TEST_CASE("virtio_net_link_takes_no_large_segment_from_a_driver_without_the_offloads", "[net]") {
  Nic nic(kMrgRxbuf);  // no GUEST_TSO4, no GUEST_CSUM
  CHECK_FALSE(nic.link->takes_large_tcp_segments());
  nic.post_rx(4096);
  nic.to_guest(tcp_frame(3000), 1460);  // refused: the guest would see a frame above its MTU
  CHECK(nic.rings[kRx].used_idx() == 0);
  nic.to_guest(tcp_frame(100));
  REQUIRE(nic.rings[kRx].used_idx() == 1);
  CHECK(nic.rx_bytes(0, 1)[0] == 0);  // no DATA_VALID without GUEST_CSUM
}

TEST_CASE("virtio_net_link_keeps_frames_in_order_until_the_guest_posts_buffers", "[net]") {
  Nic nic(kAllOffloads);
  const std::string first = tcp_frame(10), second = tcp_frame(20);
  nic.to_guest(first);
  nic.to_guest(second);
  nic.pump();
  CHECK(nic.rings[kRx].used_idx() == 0);
  nic.post_rx(200);
  nic.post_rx(200);
  nic.kick(kRx);
  nic.pump();
  REQUIRE(nic.rings[kRx].used_idx() == 2);
  CHECK(nic.rx_bytes(0, 12 + first.size()).substr(12) == first);
  CHECK(nic.rx_bytes(1, 12 + second.size()).substr(12) == second);
}

TEST_CASE("virtio_net_link_leaves_too_few_buffers_in_the_ring_for_a_save", "[net]") {
  Nic nic(kAllOffloads);
  nic.post_rx(100);
  const std::string frame = tcp_frame(200);
  nic.to_guest(frame);  // needs three buffers: the one posted stays the guest's
  CHECK(nic.rings[kRx].used_idx() == 0);
  // A save stops the ring now: the device reports it used nothing of the available ring, so the
  // restored guest still has its buffer.
  CHECK(nic.stop_ring(kRx) == 0);
}

TEST_CASE("virtio_net_link_uses_buffers_given_back_once_enough_are_there", "[net]") {
  Nic nic(kAllOffloads);
  nic.post_rx(100);
  const std::string frame = tcp_frame(200);
  nic.to_guest(frame);
  CHECK(nic.rings[kRx].used_idx() == 0);
  nic.post_rx(100);
  nic.post_rx(100);
  nic.kick(kRx);
  nic.pump();
  REQUIRE(nic.rings[kRx].used_idx() == 3);
  CHECK(nic.rings[kRx].used(0).first == 0);  // the first buffer, taken again in its turn
  const std::string got = nic.rx_bytes(0, 100) + nic.rx_bytes(1, 100) + nic.rx_bytes(2, 66);
  CHECK(got.substr(12) == frame);
}

TEST_CASE("virtio_net_link_returns_a_receive_chain_without_room_empty", "[net]") {
  Nic nic(kAllOffloads);
  // A hostile driver posts a readable-only chain in the receive ring, then a real buffer.
  nic.rings[kRx].desc(0, nic.rx_buffer_gpa(0), 64, 0);
  nic.rings[kRx].make_available(0);
  nic.next_rx_desc = 1;
  nic.post_rx(200);
  const std::string frame = tcp_frame(50);
  nic.to_guest(frame);
  REQUIRE(nic.rings[kRx].used_idx() == 2);
  CHECK(nic.rings[kRx].used(0) == std::pair<uint32_t, uint32_t>{0, 0});  // before the frame
  CHECK(nic.rings[kRx].used(1).first == 1);
  CHECK(nic.rx_bytes(1, 12 + frame.size()).substr(12) == frame);
}

TEST_CASE("virtio_net_link_without_mergeable_buffers_drops_a_frame_its_buffer_cannot_hold",
          "[net]") {
  Nic nic(kGuestCsum);
  nic.post_rx(100);
  nic.to_guest(tcp_frame(200));
  REQUIRE(nic.rings[kRx].used_idx() == 1);  // dropped, the buffer back empty: no stall
  CHECK(nic.rings[kRx].used(0).second == 0);
  nic.post_rx(300);
  const std::string frame = tcp_frame(200);
  nic.to_guest(frame);
  REQUIRE(nic.rings[kRx].used_idx() == 2);
  CHECK(nic.rx_bytes(1, 12 + frame.size()).substr(12) == frame);
}

TEST_CASE("virtio_net_link_reports_the_front_end_going_away", "[net]") {
  Nic nic(kAllOffloads);
  nic.sock.reset();
  nic.pump();
  REQUIRE(nic.closed);
  nic.to_guest(tcp_frame(10));  // after the end: ignored
}
