// lwIP's state is global; a stack that ends must take its share with it (closing connections,
// incomplete reassemblies), or the next stack in the process inherits them.
#include <catch2/catch.hpp>
#include <utility>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip_test_frames.h"

using namespace matchlock;

namespace {

using namespace matchlock::lwip_test;

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
