#include "net/policy/host_name.h"

#include <catch2/catch.hpp>

#include "net/policy/ip_address.h"

using matchlock::net::policy::host_from_authority;
using matchlock::net::policy::IpAddress;

TEST_CASE("authority host is lowercased with the port and trailing dot stripped",
          "[net][host_name]") {
  CHECK(host_from_authority("Example.COM") == "example.com");
  CHECK(host_from_authority("example.com:8080") == "example.com");
  CHECK(host_from_authority("example.com.:443") == "example.com");
  CHECK(host_from_authority("10.0.0.1:80") == "10.0.0.1");
}

TEST_CASE("IPv6 literal authorities keep every colon of the address", "[net][host_name]") {
  CHECK(host_from_authority("[::1]:8080") == "::1");
  CHECK(host_from_authority("[::1]") == "::1");
  CHECK(host_from_authority("[2001:DB8::1]:443") == "2001:db8::1");
  CHECK(host_from_authority("::1") == "::1");
  CHECK(host_from_authority("2001:db8::1") == "2001:db8::1");
}

TEST_CASE("malformed authorities are rejected", "[net][host_name]") {
  for (const char* bad : {"", ":80", "example.com:", "example.com:99999", "example.com:8a", "[::1",
                          "[::1]x", "[::1]:", "[1.2.3.4]", "user@example.com", "a b.com",
                          "exa_mple.com:1:2", "example..com", "[::1]:80:80", "[fe80::1%eth0]"}) {
    INFO(bad);
    CHECK_FALSE(host_from_authority(bad).has_value());
  }
}

TEST_CASE("IP address parsing accepts only strict spellings", "[net][host_name]") {
  CHECK(IpAddress::parse("1.2.3.4"));
  CHECK_FALSE(IpAddress::parse("1.2.3"));
  CHECK_FALSE(IpAddress::parse("0x7f.0.0.1"));
  CHECK_FALSE(IpAddress::parse("01.2.3.4"));
  CHECK_FALSE(IpAddress::parse("1.2.3.4 "));
  CHECK_FALSE(IpAddress::parse(std::string("1.2.3.4\0", 8)));
  CHECK_FALSE(IpAddress::parse("fe80::1%eth0"));
  CHECK(IpAddress::parse("[::ffff:1.2.3.4]")->canonical() == IpAddress::v4(1, 2, 3, 4));
  CHECK(IpAddress::parse("::ffff:1.2.3.4")->to_string() == "::ffff:1.2.3.4");
}
