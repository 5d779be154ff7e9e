// lwIP's state is global; a stack that ends must take its share with it (closing connections,
// incomplete reassemblies), or the next stack in the process inherits them.
#include <uv.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/uv.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "net/stack/addresses.h"
#include "net/stack/lwip_stack.h"

using namespace matchlock;

namespace {

using Frame = std::vector<uint8_t>;
constexpr uint32_t kServerIp = 0x0a000001;  // 10.0.0.1, where the guest's packets go
constexpr uint8_t kIcmp = 1, kTcp = 6;

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint16_t internet_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>((p[i] << 8) | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An Ethernet + IPv4 frame from the guest to kServerIp; `fragment` is the flags/offset field.
Frame ipv4_frame(uint8_t protocol, const Frame& body, uint16_t fragment = 0x4000) {
  Frame f(14 + 20 + body.size());
  std::memcpy(f.data(), net::kGatewayMac, 6);
  std::memcpy(f.data() + 6, net::kGuestMac, 6);
  put16(f.data() + 12, 0x0800);
  uint8_t* ip = f.data() + 14;
  ip[0] = 0x45;
  put16(ip + 2, static_cast<uint16_t>(20 + body.size()));
  put16(ip + 4, 7);  // identification: one datagram
  put16(ip + 6, fragment);
  ip[8] = 64;
  ip[9] = protocol;
  put32(ip + 12, net::kGuestIp);
  put32(ip + 16, kServerIp);
  put16(ip + 10, internet_checksum(ip, 20));
  std::memcpy(ip + 20, body.data(), body.size());
  return f;
}

// A 64-byte ICMP echo request to kServerIp, in two fragments of 32 bytes.
std::pair<Frame, Frame> fragmented_ping() {
  Frame icmp(64, 'p');
  icmp[0] = 8;  // echo request
  icmp[1] = 0;
  put16(icmp.data() + 2, 0);
  put16(icmp.data() + 4, 1);
  put16(icmp.data() + 6, 1);
  put16(icmp.data() + 2, internet_checksum(icmp.data(), icmp.size()));
  Frame first(icmp.begin(), icmp.begin() + 32), last(icmp.begin() + 32, icmp.end());
  return {ipv4_frame(kIcmp, first, 0x2000), ipv4_frame(kIcmp, last, 32 / 8)};
}

bool is_echo_reply(const Frame& f) {
  return f.size() >= 14 + 20 + 8 && f[14 + 9] == kIcmp && f[14 + 20] == 0;
}

Frame tcp_segment(uint32_t seq, uint32_t ack, uint8_t flags) {
  Frame tcp(20, 0);
  put16(tcp.data(), 40000);
  put16(tcp.data() + 2, 80);
  put32(tcp.data() + 4, seq);
  put32(tcp.data() + 8, ack);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  put16(tcp.data() + 14, 65535);
  return ipv4_frame(kTcp, tcp);  // lwIP here does not check TCP checksums (lwipopts.h)
}

struct Loop {
  uv_loop_t loop;
  Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~Loop() { CHECK(uv::close_loop(&loop)); }
};

// The stack's IPv4 frames (not the ARP announcement it makes when it comes up).
std::unique_ptr<net::LwipStack> make_stack(uv_loop_t* loop, std::vector<Frame>& sent) {
  auto stack = net::LwipStack::create(loop, 1500, [&sent](const uint8_t* f, size_t n) {
    if (n >= 14 && f[12] == 0x08 && f[13] == 0x00) sent.emplace_back(f, f + n);
  });
  REQUIRE(stack.ok());
  return std::move(stack.value());
}

void feed(net::LwipStack& stack, const Frame& f) {
  stack.input(f.data(), f.size(), kServerIp);
}

}  // namespace

TEST_CASE("a fragment held by an ended stack never completes a datagram in the next",
          "[net][lwip]") {
  Loop loop;
  auto [first, last] = fragmented_ping();
  std::vector<Frame> sent;
  {
    auto stack = make_stack(&loop.loop, sent);
    feed(*stack, first);
    feed(*stack, last);
  }
  REQUIRE(sent.size() == 1);  // the control: both fragments in one stack make one echo reply
  CHECK(is_echo_reply(sent[0]));

  sent.clear();
  {
    auto stack = make_stack(&loop.loop, sent);
    feed(*stack, first);
  }
  std::vector<Frame> later;
  auto stack = make_stack(&loop.loop, later);
  feed(*stack, last);
  CHECK(later.empty());
}

TEST_CASE("a connection closing when its stack ends is released with it", "[net][lwip]") {
  Loop loop;
  std::vector<Frame> sent;
  {
    auto stack = make_stack(&loop.loop, sent);
    struct tcp_pcb* bound = tcp_new();
    REQUIRE(tcp_bind(bound, IP_ADDR_ANY, 80) == ERR_OK);
    struct tcp_pcb* listener = tcp_listen(bound);
    REQUIRE(listener);
    // Whatever the handshake completes is closed at once: lwIP keeps the pcb to send its FIN.
    tcp_accept(listener, [](void*, struct tcp_pcb* pcb, err_t) -> err_t { return tcp_close(pcb); });
    feed(*stack, tcp_segment(1000, 0, 0x02));
    REQUIRE(sent.size() == 1);  // SYN-ACK
    const uint32_t server_seq = get32(sent[0].data() + 14 + 20 + 4);
    feed(*stack, tcp_segment(1001, server_seq + 1, 0x10));
    REQUIRE(tcp_close(listener) == ERR_OK);
    REQUIRE(tcp_active_pcbs != nullptr);  // closing: the guest has not acknowledged the FIN
  }
  CHECK(tcp_active_pcbs == nullptr);
  CHECK(tcp_tw_pcbs == nullptr);
}
