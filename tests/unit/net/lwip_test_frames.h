// Frames a guest would send to the stack, and a stack on a loop, for the unit tests that drive
// lwIP directly (its state is global: these tests run one stack at a time).
#pragma once

#include <uv.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "core/uv.h"
#include "net/stack/addresses.h"
#include "net/stack/lwip_stack.h"

namespace matchlock::lwip_test {

using Frame = std::vector<uint8_t>;
constexpr uint32_t kServerIp = 0x0a000001;  // 10.0.0.1, where the guest's packets go
constexpr uint8_t kIcmp = 1, kTcp = 6;

inline void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
inline void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
inline uint32_t get32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
inline uint16_t internet_checksum(const uint8_t* p, size_t n) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < n; i += 2) sum += static_cast<uint32_t>((p[i] << 8) | p[i + 1]);
  if (n % 2) sum += static_cast<uint32_t>(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// An Ethernet + IPv4 frame from the guest to kServerIp; `fragment` is the flags/offset field.
inline Frame ipv4_frame(uint8_t protocol, const Frame& body, uint16_t fragment = 0x4000) {
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

// A TCP segment from the guest's port 40000 to kServerIp:80 carrying `payload`.
inline Frame tcp_segment(uint32_t seq, uint32_t ack, uint8_t flags, const Frame& payload = {}) {
  Frame tcp(20, 0);
  put16(tcp.data(), 40000);
  put16(tcp.data() + 2, 80);
  put32(tcp.data() + 4, seq);
  put32(tcp.data() + 8, ack);
  tcp[12] = 5 << 4;
  tcp[13] = flags;
  put16(tcp.data() + 14, 65535);
  tcp.insert(tcp.end(), payload.begin(), payload.end());
  return ipv4_frame(kTcp, tcp);  // lwIP here does not check TCP checksums (lwipopts.h)
}

struct Loop {
  uv_loop_t loop;
  Loop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~Loop() { CHECK(uv::close_loop(&loop)); }
};

// The stack's IPv4 frames (not the ARP announcement it makes when it comes up).
inline std::unique_ptr<net::LwipStack> make_stack(uv_loop_t* loop, std::vector<Frame>& sent) {
  auto stack = net::LwipStack::create(loop, 1500, [&sent](const uint8_t* f, size_t n) {
    if (n >= 14 && f[12] == 0x08 && f[13] == 0x00) sent.emplace_back(f, f + n);
  });
  REQUIRE(stack.ok());
  return std::move(stack.value());
}

inline void feed(net::LwipStack& stack, const Frame& f) {
  stack.input(f.data(), f.size(), kServerIp);
}

}  // namespace matchlock::lwip_test
