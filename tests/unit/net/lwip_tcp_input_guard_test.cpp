// The check lwIP's TCP input runs before its own (net/lwip_port/lwip_hooks.h): a guest's segment
// half the sequence space away from the connection's rcv_nxt is dropped, because lwIP's
// tcp_receive would take it for one overlapping rcv_nxt and assert, stopping the engine.
#include <catch2/catch.hpp>
#include <string>

#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip_test_frames.h"

using namespace matchlock;
using namespace matchlock::lwip_test;

namespace {

// The server side of one connection: the accepted pcb and the bytes it received.
struct Server {
  tcp_pcb* accepted = nullptr;
  std::string received;
};

err_t on_recv(void* arg, tcp_pcb* pcb, pbuf* p, err_t) {
  if (!p) return ERR_OK;
  auto* server = static_cast<Server*>(arg);
  std::string bytes(p->tot_len, '\0');
  pbuf_copy_partial(p, bytes.data(), p->tot_len, 0);
  server->received += bytes;
  tcp_recved(pcb, p->tot_len);
  pbuf_free(p);
  return ERR_OK;
}

err_t on_accept(void* arg, tcp_pcb* pcb, err_t) {
  static_cast<Server*>(arg)->accepted = pcb;
  tcp_arg(pcb, arg);
  tcp_recv(pcb, on_recv);
  return ERR_OK;
}

}  // namespace

TEST_CASE("a segment half the sequence space from rcv_nxt is dropped and the connection goes on",
          "[net][lwip]") {
  Loop loop;
  std::vector<Frame> sent;
  auto stack = make_stack(&loop.loop, sent);
  Server server;
  tcp_pcb* bound = tcp_new();
  REQUIRE(tcp_bind(bound, IP_ADDR_ANY, 80) == ERR_OK);
  tcp_pcb* listener = tcp_listen(bound);
  REQUIRE(listener);
  tcp_arg(listener, &server);
  tcp_accept(listener, on_accept);

  feed(*stack, tcp_segment(1000, 0, 0x02));  // SYN
  REQUIRE(sent.size() == 1);                 // SYN-ACK
  const uint32_t server_seq = get32(sent[0].data() + 14 + 20 + 4);
  feed(*stack, tcp_segment(1001, server_seq + 1, 0x10));  // ACK: established
  REQUIRE(server.accepted);

  // What the guest_network fuzzer found: one byte (ACK|ECE) at exactly rcv_nxt + 2^31. Before
  // the check, lwIP's assertion aborted the process here.
  feed(*stack, tcp_segment(1001 + 0x80000000U, server_seq + 1, 0x50, Frame{'x'}));
  // Either side of the antipode, within the margin, too.
  feed(*stack, tcp_segment(1001 + 0x80000000U - 1000, server_seq + 1, 0x10, Frame{'y'}));
  feed(*stack, tcp_segment(1001 + 0x80000000U + 1000, server_seq + 1, 0x10, Frame{'z'}));
  CHECK(server.received.empty());

  // The connection is intact: the next byte at rcv_nxt arrives.
  feed(*stack, tcp_segment(1001, server_seq + 1, 0x18, Frame{'o', 'k'}));
  CHECK(server.received == "ok");

  tcp_abort(server.accepted);
  REQUIRE(tcp_close(listener) == ERR_OK);
}
