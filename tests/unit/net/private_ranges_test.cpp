#include "net/policy/private_ranges.h"

#include <netinet/in.h>

#include <catch2/catch.hpp>
#include <cstring>

using matchlock::net::policy::IpAddress;
using matchlock::net::policy::is_host_loopback_address;
using matchlock::net::policy::is_private_address;
using matchlock::net::policy::PrivateRangePolicy;

namespace {

bool private_text(const char* text) {
  auto address = IpAddress::parse(text);
  INFO(text);
  REQUIRE(address);
  return is_private_address(*address);
}

}  // namespace

TEST_CASE("every private and reserved IPv4 range is blocked at both edges",
          "[net][private_ranges]") {
  for (const char* text :
       {"0.0.0.0", "0.255.255.255", "10.0.0.0", "10.255.255.255", "100.64.0.0", "100.127.255.255",
        "127.0.0.1", "127.255.255.255", "169.254.0.0", "169.254.169.254", "172.16.0.0",
        "172.31.255.255", "192.168.0.0", "192.168.255.255", "224.0.0.1", "255.255.255.255"}) {
    CHECK(private_text(text));
  }
}

TEST_CASE("public IPv4 addresses next to private ranges are not blocked", "[net][private_ranges]") {
  for (const char* text :
       {"1.0.0.0", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
        "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0",
        "192.167.255.255", "192.169.0.0", "8.8.8.8", "223.255.255.255"}) {
    CHECK_FALSE(private_text(text));
  }
}

TEST_CASE("private IPv6 ranges are blocked", "[net][private_ranges]") {
  for (const char* text :
       {"::", "::1", "fc00::1", "fdff:ffff::1", "fe80::1", "febf::1", "ff02::1"}) {
    CHECK(private_text(text));
  }
  for (const char* text : {"2001:4860:4860::8888", "fec0::1", "fbff::1", "::2:0:0:1"}) {
    CHECK_FALSE(private_text(text));
  }
}

TEST_CASE("v4-mapped and v4-compatible IPv6 forms of private ranges are blocked",
          "[net][private_ranges]") {
  for (const char* text :
       {"::ffff:127.0.0.1", "::ffff:10.1.2.3", "::ffff:100.64.0.1", "::ffff:169.254.169.254",
        "::ffff:0.0.0.0", "::ffff:7f00:1", "::127.0.0.1", "::10.0.0.1", "[::ffff:192.168.1.1]"}) {
    CHECK(private_text(text));
  }
  CHECK_FALSE(private_text("::ffff:8.8.8.8"));
}

TEST_CASE("host loopback covers 127/8, ::1, 0/8, :: and their v6 forms", "[net][private_ranges]") {
  for (const char* text : {"127.0.0.1", "127.1.2.3", "0.0.0.0", "::1", "::", "::ffff:127.0.0.1",
                           "::ffff:0.0.0.0", "::127.0.0.1"}) {
    INFO(text);
    CHECK(is_host_loopback_address(*IpAddress::parse(text)));
  }
  CHECK_FALSE(is_host_loopback_address(*IpAddress::parse("10.0.0.1")));
}

TEST_CASE("allow-private-host exception lifts the block for that address only",
          "[net][private_ranges]") {
  PrivateRangePolicy policy;
  CHECK(policy.is_blocked_address("192.168.1.10"));
  auto exception = PrivateRangePolicy::parse_exception("192.168.1.10");
  REQUIRE(exception.ok());
  policy.add_exception(*exception);
  CHECK_FALSE(policy.is_blocked_address("192.168.1.10"));
  CHECK_FALSE(policy.is_blocked_address("::ffff:192.168.1.10"));
  CHECK(policy.is_blocked_address("192.168.1.11"));
  CHECK_FALSE(policy.is_blocked_address("8.8.8.8"));
}

TEST_CASE("allow-private-host refuses the host loopback and non-addresses",
          "[net][private_ranges]") {
  for (const char* bad :
       {"127.0.0.1", "::1", "0.0.0.0", "::ffff:127.0.0.1", "localhost", "10.0.0.0/8", ""}) {
    auto parsed = PrivateRangePolicy::parse_exception(bad);
    INFO(bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().message.find("--allow-private-host") != std::string::npos);
  }
}

TEST_CASE("unparsable addresses are blocked", "[net][private_ranges]") {
  PrivateRangePolicy policy;
  CHECK(policy.is_blocked_address("not an address"));
  CHECK(policy.is_blocked_address("0x7f.1"));
  CHECK(policy.is_blocked_address(""));
}

TEST_CASE("sockaddr addresses are checked like text", "[net][private_ranges]") {
  PrivateRangePolicy policy;
  sockaddr_in in4{};
  in4.sin_family = AF_INET;
  in4.sin_addr.s_addr = htonl(0x7f000001);
  CHECK(policy.is_blocked_address(reinterpret_cast<sockaddr*>(&in4), sizeof(in4)));
  in4.sin_addr.s_addr = htonl(0x08080808);
  CHECK_FALSE(policy.is_blocked_address(reinterpret_cast<sockaddr*>(&in4), sizeof(in4)));
  CHECK(policy.is_blocked_address(reinterpret_cast<sockaddr*>(&in4), 4));  // short length

  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  const uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1};
  std::memcpy(&in6.sin6_addr, mapped, 16);
  CHECK(policy.is_blocked_address(reinterpret_cast<sockaddr*>(&in6), sizeof(in6)));
}
