// Feeds malformed and random frames to the whole network stack over its real socketpair link:
// nothing may crash, the stack must still answer afterwards, and a bad frame length closes
// the link. Runs in interception mode with a deny-all policy and no DNS servers, so no packet
// can make the engine dial anything.
#include "net/network_stack.h"

#include <sys/socket.h>
#include <uv.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <string>

#include "core/unique_fd.h"

using namespace matchlock;

namespace {

class DenyAll : public net::PolicyHook {
 public:
  net::DnsVerdict dns_query(const std::string&) override { return {}; }  // drop
  std::optional<std::string> dns_reply(const std::string&, std::string) override {
    return std::nullopt;
  }
  net::GateDecision gate(const net::policy::Request&) override { return {false, "deny all"}; }
  bool may_dial(uint32_t, const std::string&) override { return false; }
};

uint16_t csum(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += (p[i] << 8) | p[i + 1];
  if (n & 1) acc += p[n - 1] << 8;
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

const uint8_t kGatewayMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x02};
const uint8_t kGuestMac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};

// A well-formed guest TCP SYN from 192.168.127.15:40000 to dst:port.
std::string tcp_syn(uint32_t dst, uint16_t port) {
  std::string f(14 + 20 + 20, '\0');
  auto* b = reinterpret_cast<uint8_t*>(f.data());
  std::memcpy(b, kGatewayMac, 6);
  std::memcpy(b + 6, kGuestMac, 6);
  b[12] = 0x08;
  uint8_t* ip = b + 14;
  ip[0] = 0x45;
  ip[3] = 40;
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = 6;
  uint32_t src = (192u << 24) | (168u << 16) | (127u << 8) | 15u;
  for (int i = 0; i < 4; ++i) {
    ip[12 + i] = static_cast<uint8_t>(src >> (24 - 8 * i));
    ip[16 + i] = static_cast<uint8_t>(dst >> (24 - 8 * i));
  }
  uint16_t c = csum(ip, 20);
  ip[10] = c >> 8;
  ip[11] = c & 0xff;
  uint8_t* t = ip + 20;
  t[0] = 40000 >> 8;
  t[1] = 40000 & 0xff;
  t[2] = port >> 8;
  t[3] = port & 0xff;
  t[7] = 1;  // seq
  t[12] = 5 << 4;
  t[13] = 0x02;  // SYN
  t[14] = 0xff;
  t[15] = 0xff;
  uint32_t acc = 0;
  for (int i = 12; i < 20; i += 2) acc += (ip[i] << 8) | ip[i + 1];
  acc += 6 + 20;
  c = csum(t, 20, acc);
  t[16] = c >> 8;
  t[17] = c & 0xff;
  return f;
}

std::string framed(const std::string& f) {
  uint32_t n = static_cast<uint32_t>(f.size());
  return std::string{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)} +
         f;
}

void run_for(uv_loop_t* loop, int ms) {
  uv_timer_t t;
  uv_timer_init(loop, &t);
  uv_timer_start(
      &t, [](uv_timer_t* h) { uv_stop(h->loop); }, ms, 0);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&t), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
}

}  // namespace

TEST_CASE("network stack survives garbage frames and closes the link on a bad length", "[net]") {
  uv_loop_t loop;
  uv_loop_init(&loop);
  int sv[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  UniqueFd guest(sv[1]);
  net::NetworkConfig cfg;
  cfg.transport = net::NicTransport::kStream;
  cfg.policy = std::make_shared<DenyAll>();
  bool closed = false;
  std::string close_reason;
  auto stack = net::NetworkStack::start(&loop, UniqueFd(sv[0]), cfg, [&](const Error& e) {
    closed = true;
    close_reason = e.message;
  });
  REQUIRE(stack.ok());
  // A second stack in the same process is refused (lwIP keeps global state).
  {
    int sv2[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv2) == 0);
    ::close(sv2[1]);
    REQUIRE_FALSE(net::NetworkStack::start(&loop, UniqueFd(sv2[0]), cfg, {}).ok());
  }

  std::mt19937 rng(1234);
  std::string stream;
  for (int i = 0; i < 3000; ++i) {
    size_t len = 14 + rng() % 1500;
    std::string f(len, '\0');
    for (auto& ch : f) ch = static_cast<char>(rng());
    switch (i % 5) {
      case 0:  // IPv4 with a random header
        f[12] = 0x08, f[13] = 0x00;
        break;
      case 1:  // IPv4 from the guest's address with a plausible header
        f[12] = 0x08, f[13] = 0x00;
        if (len >= 34) {
          f[14] = 0x45;
          f[26] = static_cast<char>(192), f[27] = static_cast<char>(168), f[28] = 127, f[29] = 15;
        }
        break;
      case 2:  // ARP
        f[12] = 0x08, f[13] = 0x06;
        break;
      case 3: {  // a valid SYN, truncated at a random point
        std::string syn = tcp_syn((10u << 24) | 1, 80);
        f = syn.substr(0, 14 + rng() % (syn.size() - 14));
        break;
      }
      default:  // IPv6 and anything else
        break;
    }
    stream += framed(f);
  }
  // Write in chunks while the loop runs, so the socket buffer never blocks the test.
  size_t off = 0;
  while (off < stream.size()) {
    ssize_t n = ::send(guest.get(), stream.data() + off,
                       std::min<size_t>(65536, stream.size() - off), MSG_DONTWAIT);
    if (n > 0) off += static_cast<size_t>(n);
    run_for(&loop, 5);
    char drain[65536];
    while (::recv(guest.get(), drain, sizeof drain, MSG_DONTWAIT) > 0) {
    }
  }
  run_for(&loop, 50);
  REQUIRE_FALSE(closed);

  // Still alive: interception completes the handshake (the policy decides on the first bytes).
  std::string syn = framed(tcp_syn((10u << 24) | 1, 80));
  REQUIRE(::send(guest.get(), syn.data(), syn.size(), 0) == static_cast<ssize_t>(syn.size()));
  run_for(&loop, 100);
  char buf[4096];
  ssize_t n = ::recv(guest.get(), buf, sizeof buf, MSG_DONTWAIT);
  REQUIRE(n >= 4 + 54);
  const auto* tcp = reinterpret_cast<const uint8_t*>(buf) + 4 + 14 + 20;
  REQUIRE(tcp[13] == 0x12);  // SYN-ACK

  // A frame length beyond the MTU closes the link.
  const char bad[4] = {0x00, 0x01, 0x00, 0x00};
  REQUIRE(::send(guest.get(), bad, 4, 0) == 4);
  run_for(&loop, 50);
  REQUIRE(closed);
  REQUIRE(close_reason.find("frame length") != std::string::npos);

  stack.value().reset();
  run_for(&loop, 10);
  uv_loop_close(&loop);
}
