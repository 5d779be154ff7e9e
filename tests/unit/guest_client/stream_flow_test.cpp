#include <catch2/catch.hpp>

#include "guest_client/stream_flow.h"

using namespace matchlock::guest_client;
using namespace matchlock::guest_protocol;

TEST_CASE("outgoing flow sends no more than its credit, in bounded chunks", "[stream_flow]") {
  OutgoingFlow f;
  f.push(std::string(kInitialCredit + 10, 'x'));
  size_t sent = 0;
  while (auto chunk = f.take_chunk()) {
    CHECK(chunk->size() <= kMaxDataChunk);
    sent += chunk->size();
  }
  CHECK(sent == kInitialCredit);
  CHECK(f.backlog() == 10);
  f.add_credit(4);
  CHECK(f.take_chunk() == std::string(4, 'x'));
  CHECK_FALSE(f.take_chunk());
}

TEST_CASE("outgoing EOF waits for the queued bytes and is taken once", "[stream_flow]") {
  OutgoingFlow f;
  f.push("abc");
  f.finish();
  f.push("ignored after finish");
  CHECK(f.backlog() == 3);
  CHECK_FALSE(f.take_eof());
  CHECK(f.take_chunk() == std::string("abc"));
  CHECK(f.take_eof());
  CHECK_FALSE(f.take_eof());
}

TEST_CASE("outgoing credit saturates instead of overflowing", "[stream_flow]") {
  OutgoingFlow f;
  f.add_credit(UINT32_MAX);
  f.add_credit(UINT32_MAX);
  f.push(std::string(10, 'y'));
  CHECK(f.take_chunk()->size() == 10);
}

TEST_CASE("a silently closed flow sends neither bytes nor EOF", "[stream_flow]") {
  OutgoingFlow f;
  f.close_silently();
  f.push("x");
  CHECK_FALSE(f.take_chunk());
  CHECK_FALSE(f.take_eof());
}

TEST_CASE("incoming flow rejects bytes beyond credit and after EOF", "[stream_flow]") {
  IncomingFlow f;
  CHECK(f.accept(kInitialCredit));
  CHECK_FALSE(f.accept(1));
  IncomingFlow g;
  CHECK(g.accept(100));
  g.grant(100);
  CHECK(g.accept(kInitialCredit));
  CHECK(g.end());
  CHECK_FALSE(g.end());
  CHECK_FALSE(g.accept(0));
  CHECK_FALSE(IncomingFlow::unused().accept(0));
}
