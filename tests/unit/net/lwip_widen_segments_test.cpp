// A connection's segments grow to 64 KiB only when the guest's NIC takes them and the guest asked
// for the MSS its MTU implies.
#include <uv.h>

#include <catch2/catch.hpp>

#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "net/stack/lwip_stack.h"

using namespace matchlock;

namespace {

struct Stack {
  uv_loop_t loop{};
  bool large = true;
  std::unique_ptr<net::LwipStack> stack;
  Stack() {
    uv_loop_init(&loop);
    auto s = net::LwipStack::create(
        &loop, 1500, [](const uint8_t*, size_t) {}, [this] { return large; });
    REQUIRE(s.ok());
    stack = std::move(s.value());
  }
  ~Stack() {
    stack.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }
};

struct Pcb {
  struct tcp_pcb* pcb = tcp_new();
  explicit Pcb(u16_t mss) {
    REQUIRE(pcb);
    pcb->mss = mss;
    pcb->cwnd = 4380;
  }
  ~Pcb() { tcp_abort(pcb); }
};

}  // namespace

TEST_CASE("lwip_widens_a_connection_with_the_mtu_mss_to_whole_guest_segments", "[net]") {
  Stack s;
  Pcb p(1460);
  s.stack->widen_segments(p.pcb);
  CHECK(p.pcb->mss == 44 * 1460);   // the most whole 1460-byte segments below 64 KiB
  CHECK(p.pcb->cwnd == 44 * 1460);  // one such segment may leave at once
}

TEST_CASE("lwip_keeps_the_mss_of_a_guest_that_asked_for_less", "[net]") {
  Stack s;
  Pcb p(536);
  s.stack->widen_segments(p.pcb);
  CHECK(p.pcb->mss == 536);
  CHECK(p.pcb->cwnd == 4380);
}

TEST_CASE("lwip_keeps_the_mss_when_the_nic_takes_no_large_segments", "[net]") {
  Stack s;
  s.large = false;
  Pcb p(1460);
  s.stack->widen_segments(p.pcb);
  CHECK(p.pcb->mss == 1460);
}
