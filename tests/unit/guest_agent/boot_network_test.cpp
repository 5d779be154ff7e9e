// matchlock.net= on the kernel command line: the addressing a guest sets at boot, before a save.
#include <catch2/catch.hpp>

#include "net_config.h"

using namespace matchlock::guest_agent;

TEST_CASE("boot_network_settings_reads_address_prefix_gateway_and_mtu", "[guest]") {
  auto n = boot_network_settings(
      "console=ttyS0 matchlock.net=192.168.127.15/24,192.168.127.2,1500 quiet\n");
  REQUIRE(n);
  CHECK(n->address == "192.168.127.15");
  CHECK(n->prefix == 24);
  CHECK(n->gateway == "192.168.127.2");
  CHECK(n->mtu == 1500);
  CHECK(boot_network_settings("matchlock.net=10.0.0.2/8,10.0.0.1,65520")->mtu == 65520);
}

TEST_CASE("boot_network_settings_needs_the_whole_word_and_every_part", "[guest]") {
  CHECK_FALSE(boot_network_settings("console=ttyS0 quiet"));
  CHECK_FALSE(boot_network_settings("xmatchlock.net=1.2.3.4/24,1.2.3.1,1500"));
  CHECK_FALSE(boot_network_settings("matchlock.net=1.2.3.4,1.2.3.1,1500"));    // no prefix
  CHECK_FALSE(boot_network_settings("matchlock.net=1.2.3.4/24,1.2.3.1"));      // no MTU
  CHECK_FALSE(boot_network_settings("matchlock.net=1.2.3.4/x,1.2.3.1,1500"));  // not numbers
  CHECK_FALSE(boot_network_settings("matchlock.net=1.2.3.4/24,1.2.3.1,15x0"));
  CHECK_FALSE(boot_network_settings("matchlock.net="));
  // The word may come after another that merely contains it.
  CHECK(boot_network_settings("a=matchlock.net=x matchlock.net=1.2.3.4/24,1.2.3.1,1500"));
}
