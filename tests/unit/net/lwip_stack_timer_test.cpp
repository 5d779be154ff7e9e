// lwIP's timeouts are driven by a timer armed for the next one due, not by a fixed tick: an
// idle sandbox's owner must not wake 20 times a second (docs/performance.md, Density).
#include "net/stack/lwip_stack.h"

#include <uv.h>

#include <catch2/catch.hpp>

#include "core/uv.h"

using namespace matchlock;

TEST_CASE("an idle lwIP stack lets the loop sleep until its next timeout", "[net][lwip]") {
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto stack = net::LwipStack::create(&loop, 1500, [](const uint8_t*, size_t) {});
    REQUIRE(stack.ok());
    for (int i = 0; i < 3; ++i) uv_run(&loop, UV_RUN_NOWAIT);
    // lwIP's cyclic timers (ARP and reassembly ageing) run once a second; the old tick was 50 ms.
    const int wait_ms = uv_backend_timeout(&loop);
    CHECK(wait_ms > 50);
    CHECK(wait_ms <= 1000);
  }
  CHECK(uv::close_loop(&loop));
}
