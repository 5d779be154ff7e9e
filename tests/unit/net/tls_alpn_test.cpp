#include <catch2/catch.hpp>

#include <string>

#include "net/tls/alpn.h"
#include "tls_test_util.h"

using namespace matchlock::net::tls;
using matchlock::net::test::alpn_wire;

TEST_CASE("alpn prefers h2 over http/1.1 whatever the guest's order", "[net][tls]") {
  CHECK(choose_application_protocol(alpn_wire({"http/1.1", "h2"})).protocol ==
        ApplicationProtocol::kH2);
  CHECK(choose_application_protocol(alpn_wire({"h2", "http/1.1"})).name == "h2");
  std::string offered = alpn_wire({"h3", "http/1.1"});
  auto http11 = choose_application_protocol(offered);  // points into `offered`
  CHECK(http11.protocol == ApplicationProtocol::kHttp11);
  CHECK(http11.name == "http/1.1");
}

TEST_CASE("alpn selects nothing from unknown or malformed lists", "[net][tls]") {
  CHECK(choose_application_protocol(alpn_wire({"spdy/3", "h2c"})).name.empty());
  CHECK(choose_application_protocol("").name.empty());
  CHECK(choose_application_protocol(std::string("\x05h2", 3)).name.empty());      // overruns
  CHECK(choose_application_protocol(std::string("\x02h2\x00", 4)).name.empty());  // empty entry
  CHECK(choose_application_protocol(std::string("\x02h2\x09http", 8)).name.empty());
}
