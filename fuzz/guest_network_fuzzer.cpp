// The sandbox's network as the guest reaches it (engine/src/net/network_stack.cpp): frames over
// the link socket (link/frame_reader.cpp), the header look before lwIP (stack/packet_info.cpp),
// lwIP itself (ARP, IPv4, ICMP, TCP, UDP), the DNS forwarder and the interception endpoint
// behind a policy that allows nothing, so no frame can make the engine dial anything.
//
// Input: operations: a frame (with switches that make it pass the cheap checks a fuzzer rarely
// gets right by chance: the guest's addresses, the IPv4 length, the acknowledgement of what the
// stack last sent, the checksums), raw bytes on the link, the guest closing its side.
// Invariants: the link closes only after a frame length outside [14, MTU + 18], raw bytes or the
// guest's close; everything the stack sends is a framed Ethernet frame within the MTU, and an
// IPv4 one is addressed to the guest's MAC and address; a stack starts again after the last one
// (lwIP's global state is released) and leaves nothing on the loop.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_loop.h"
#include "net/network_stack.h"
#include "net/policy_hook.h"
#include "net/stack/addresses.h"

namespace net = matchlock::net;
using matchlock::UniqueFd;
using matchlock::fuzz::InputReader;
using matchlock::fuzz::shared_loop;

namespace {

constexpr int kMtu = 1500;
constexpr size_t kMaxFrame = kMtu + 18;

// Nothing leaves: DNS questions are answered with themselves (exercising the reply path), every
// connection is refused, nothing may be dialled.
class AllowNothing : public net::PolicyHook {
 public:
  net::DnsVerdict dns_query(const std::string& query) override {
    return {net::DnsVerdict::Action::kAnswer, query};
  }
  std::optional<std::string> dns_reply(const std::string&, std::string) override {
    return std::nullopt;
  }
  net::GateDecision gate(const net::policy::Request&) override { return {false, "fuzzing"}; }
  bool may_dial(uint32_t, const std::string&) override { return false; }
};

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
uint32_t be32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, static_cast<uint16_t>(v >> 16));
  put16(p + 2, static_cast<uint16_t>(v));
}
uint16_t checksum(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += be16(p + i);
  if (n & 1) acc += uint32_t{p[n - 1]} << 8;
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc);
}

class Harness {
 public:
  explicit Harness(InputReader& in) : in_(in) {
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
    guest_.reset(sv[1]);
    net::NetworkConfig config;
    config.mtu = kMtu;
    config.transport = net::NicTransport::kStream;  // frames straight from the harness
    config.policy = std::make_shared<AllowNothing>();
    auto s = net::NetworkStack::start(shared_loop(), UniqueFd(sv[0]), config,
                                      [this](const matchlock::Error&) { closed_ = true; });
    FUZZ_CHECK(s.ok());  // also: the previous input's stack released lwIP's global state
    stack_ = std::move(s.value());
  }

  ~Harness() {
    stack_.reset();
    guest_.reset();
    matchlock::fuzz::check_loop_empty();
  }

  void run() {
    for (int step = 0; step < 128 && !in_.empty(); ++step) {
      switch (in_.u8() % 4) {
        case 0:
        case 1:
          send_frame();
          break;
        case 2:  // raw bytes: the framing is lost from here on
          may_close_ = true;
          send(in_.bytes(in_.u8() % 16));
          break;
        case 3:  // the guest (QEMU) closes its side
          may_close_ = true;
          ::shutdown(guest_.get(), SHUT_WR);
          break;
      }
      pump();
      FUZZ_CHECK(!closed_ || may_close_);
    }
  }

 private:
  void send_frame() {
    const uint8_t switches = in_.u8();
    const size_t declared = in_.u16() % (kMaxFrame + 64);
    std::string frame = in_.bytes(declared);
    if (frame.size() < declared) frame.resize(declared);  // the length says what is sent
    if (declared < 14 || declared > kMaxFrame) may_close_ = true;
    auto* f = reinterpret_cast<uint8_t*>(frame.data());
    if ((switches & 1) && frame.size() >= 34) {  // an IPv4 frame from the guest
      std::memcpy(f, net::kGatewayMac, 6);
      std::memcpy(f + 6, net::kGuestMac, 6);
      put16(f + 12, 0x0800);
      f[14] = 0x45;
      put32(f + 14 + 12, net::kGuestIp);
    }
    uint8_t* ip = f + 14;
    const size_t ihl = frame.size() >= 34 ? (ip[0] & 0x0f) * 4u : 0;
    if ((switches & 2) && ihl >= 20 && frame.size() >= 14 + ihl) {
      put16(ip + 2, static_cast<uint16_t>(frame.size() - 14));
    }
    const size_t total = ihl ? std::min<size_t>(be16(ip + 2), frame.size() - 14) : 0;
    const bool tcp = ihl >= 20 && ip[9] == 6 && total >= ihl + 20;
    const bool udp = ihl >= 20 && ip[9] == 17 && total >= ihl + 8;
    const bool icmp = ihl >= 20 && ip[9] == 1 && total >= ihl + 4;
    if ((switches & 4) && tcp) put32(ip + ihl + 8, next_from_stack_);  // ack what it sent
    if ((switches & 8) && ihl >= 20 && total >= ihl) {                 // right checksums
      put16(ip + 10, 0);
      put16(ip + 10, checksum(ip, ihl));
      if (tcp || udp) {
        uint8_t* t = ip + ihl;
        const size_t tn = total - ihl;
        uint8_t* sum = t + (tcp ? 16 : 6);
        put16(sum, 0);
        uint32_t pseudo = 0;
        for (int i = 12; i < 20; i += 2) pseudo += be16(ip + i);
        pseudo += ip[9] + static_cast<uint32_t>(tn);
        put16(sum, checksum(t, tn, pseudo));
      }
      if (icmp) {  // no pseudo header
        put16(ip + ihl + 2, 0);
        put16(ip + ihl + 2, checksum(ip + ihl, total - ihl));
      }
    }
    uint8_t length[4];
    put32(length, static_cast<uint32_t>(frame.size()));
    send(std::string(reinterpret_cast<char*>(length), 4) + frame);
  }

  void send(const std::string& bytes) {
    size_t at = 0;
    for (int tries = 0; at < bytes.size() && tries < 64; ++tries) {
      ssize_t n =
          ::send(guest_.get(), bytes.data() + at, bytes.size() - at, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno != EAGAIN) return;  // closed: nothing more to say
        pump();
        continue;
      }
      at += static_cast<size_t>(n);
    }
  }

  // Runs the stack until idle and checks each frame it sent the guest.
  void pump() {
    for (int i = 0; i < 3; ++i) uv_run(shared_loop(), UV_RUN_NOWAIT);
    char buf[65536];
    ssize_t n;
    while ((n = ::recv(guest_.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      out_.append(buf, static_cast<size_t>(n));
    }
    while (out_.size() >= 4) {
      const auto* p = reinterpret_cast<const uint8_t*>(out_.data());
      const uint32_t len = be32(p);
      FUZZ_CHECK(len >= 14 && len <= kMaxFrame);
      if (out_.size() < 4 + len) break;
      check_frame(p + 4, len);
      out_.erase(0, 4 + len);
    }
  }

  void check_frame(const uint8_t* f, size_t len) {
    if (be16(f + 12) != 0x0800) return;
    FUZZ_CHECK(len >= 34);
    const uint8_t* ip = f + 14;
    // Addressed to the guest. Its source is whatever the guest addressed (the stack answers as
    // that address, the guest's own included), so it is not checked.
    FUZZ_CHECK(be32(ip + 16) == net::kGuestIp);
    FUZZ_CHECK(std::memcmp(f, net::kGuestMac, 6) == 0);
    const size_t ihl = (ip[0] & 0x0f) * 4u;
    if (ip[9] != 6 || len < 14 + ihl + 20) return;
    // Remember what acknowledges this segment, for the next frame that asks for it.
    const uint8_t* t = ip + ihl;
    const size_t payload = be16(ip + 2) - ihl - (t[12] >> 4) * 4u;
    next_from_stack_ = be32(t + 4) + static_cast<uint32_t>(payload) + ((t[13] & 0x03) ? 1 : 0);
  }

  InputReader& in_;
  UniqueFd guest_;
  std::unique_ptr<net::NetworkStack> stack_;
  std::string out_;
  uint32_t next_from_stack_ = 0;
  bool closed_ = false;
  bool may_close_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  matchlock::fuzz::engine_process_settings();
  InputReader in(data, size);
  Harness h(in);
  h.run();
  return 0;
}
