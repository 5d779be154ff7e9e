#include "net/policy/host_pattern.h"

#include <catch2/catch.hpp>

using matchlock::ErrorCode;
using matchlock::net::policy::HostPattern;

namespace {

HostPattern pattern(const char* text) {
  auto parsed = HostPattern::parse(text);
  INFO(text);
  REQUIRE(parsed.ok());
  return *parsed;
}

}  // namespace

TEST_CASE("star pattern matches every name and address", "[net][host_pattern]") {
  HostPattern all = pattern("*");
  CHECK(all.matches("example.com"));
  CHECK(all.matches("a.b.c.d.example.org"));
  CHECK(all.matches("10.0.0.1"));
  CHECK(all.matches("::1"));
}

TEST_CASE("wildcard subdomain pattern matches subdomains at any depth", "[net][host_pattern]") {
  HostPattern p = pattern("*.example.com");
  CHECK(p.matches("api.example.com"));
  CHECK(p.matches("a.b.c.example.com"));
  CHECK(p.matches("API.Example.COM"));
  CHECK(p.matches("api.example.com."));
}

TEST_CASE("wildcard subdomain pattern does not match the apex", "[net][host_pattern]") {
  HostPattern p = pattern("*.example.com");
  CHECK_FALSE(p.matches("example.com"));
  CHECK_FALSE(p.matches("example.com."));
}

TEST_CASE("wildcard subdomain pattern does not match lookalike suffixes", "[net][host_pattern]") {
  HostPattern p = pattern("*.example.com");
  CHECK_FALSE(p.matches("badexample.com"));
  CHECK_FALSE(p.matches("example.com.evil.net"));
  CHECK_FALSE(p.matches("api.example.co"));
  CHECK_FALSE(p.matches(".example.com"));
  CHECK_FALSE(p.matches("a..example.com"));
}

TEST_CASE("wildcard inside a label matches within that label only", "[net][host_pattern]") {
  HostPattern p = pattern("api-*.example.com");
  CHECK(p.matches("api-eu.example.com"));
  CHECK(p.matches("api-.example.com"));
  CHECK(p.matches("API-US-EAST.example.com"));
  CHECK_FALSE(p.matches("api.example.com"));
  CHECK_FALSE(p.matches("api-eu.x.example.com"));
  CHECK_FALSE(p.matches("xapi-eu.example.com"));
  CHECK_FALSE(p.matches("example.com"));

  HostPattern suffix = pattern("*-api.example.com");
  CHECK(suffix.matches("eu-api.example.com"));
  CHECK_FALSE(suffix.matches("eu-api2.example.com"));

  HostPattern middle = pattern("a*z.example.com");
  CHECK(middle.matches("az.example.com"));
  CHECK(middle.matches("abcz.example.com"));
  CHECK_FALSE(middle.matches("a.example.com"));  // prefix and suffix must not overlap
}

TEST_CASE("a star label after the first matches exactly one label", "[net][host_pattern]") {
  HostPattern p = pattern("example.*");
  CHECK(p.matches("example.org"));
  CHECK_FALSE(p.matches("example.co.uk"));
  CHECK_FALSE(p.matches("example"));
}

TEST_CASE("exact pattern matches only that name, any case, trailing dot ignored",
          "[net][host_pattern]") {
  HostPattern p = pattern("Api.Example.com.");
  CHECK(p.text() == "api.example.com");
  CHECK(p.matches("api.example.com"));
  CHECK(p.matches("API.EXAMPLE.COM"));
  CHECK(p.matches("api.example.com."));
  CHECK_FALSE(p.matches("www.api.example.com"));
  CHECK_FALSE(p.matches("example.com"));
  CHECK_FALSE(p.matches("api.example.com.."));
}

TEST_CASE("name patterns never match IP literals", "[net][host_pattern]") {
  CHECK_FALSE(pattern("*.example.com").matches("1.2.3.4"));
  CHECK_FALSE(pattern("example.*").matches("::1"));
}

TEST_CASE("IPv4 pattern matches that address only", "[net][host_pattern]") {
  HostPattern p = pattern("10.1.2.3");
  CHECK(p.matches("10.1.2.3"));
  CHECK_FALSE(p.matches("10.1.2.4"));
  CHECK_FALSE(p.matches("10.1.2.30"));
  CHECK_FALSE(p.matches("010.1.2.3"));  // no octal spellings
}

TEST_CASE("IPv6 pattern matches any spelling of the same address", "[net][host_pattern]") {
  HostPattern p = pattern("2001:db8::1");
  CHECK(p.matches("2001:db8::1"));
  CHECK(p.matches("[2001:db8::1]"));
  CHECK(p.matches("2001:0DB8:0:0:0:0:0:1"));
  CHECK_FALSE(p.matches("2001:db8::2"));

  HostPattern bracketed = pattern("[::1]");
  CHECK(bracketed.text() == "::1");
  CHECK(bracketed.matches("0:0:0:0:0:0:0:1"));
}

TEST_CASE("IPv4 pattern matches the v4-mapped IPv6 form and vice versa", "[net][host_pattern]") {
  CHECK(pattern("1.2.3.4").matches("::ffff:1.2.3.4"));
  CHECK(pattern("1.2.3.4").matches("[::ffff:102:304]"));
  CHECK(pattern("::ffff:1.2.3.4").matches("1.2.3.4"));
  CHECK_FALSE(pattern("1.2.3.4").matches("::1.2.3.4"));  // v4-compatible is a different address
}

TEST_CASE("invalid patterns are rejected with a message naming the pattern",
          "[net][host_pattern]") {
  for (const char* bad :
       {"", " ", "exa mple.com", "**", "*.*x*.com", "a*b*c.example.com", "example..com",
        ".example.com", "example.com:443", "10.0.0.*", "10.0.*.1", "1.2.3", "[::1",
        "http://example.com", "ex/ample.com", "ex\xc3\xa9mple.com"}) {
    auto parsed = HostPattern::parse(bad);
    INFO("pattern: " << bad);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == ErrorCode::kInvalidArgument);
    CHECK(parsed.error().message.find("\"" + std::string(bad) + "\"") != std::string::npos);
  }
}

TEST_CASE("over-long labels and names are rejected", "[net][host_pattern]") {
  CHECK_FALSE(HostPattern::parse(std::string(64, 'a') + ".com").ok());
  CHECK(HostPattern::parse(std::string(63, 'a') + ".com").ok());
  std::string long_name;
  for (int i = 0; i < 51; ++i) long_name += "abcd.";  // 258 chars
  long_name += "com";
  CHECK_FALSE(HostPattern::parse(long_name).ok());
}

TEST_CASE("garbage hosts never match a name pattern", "[net][host_pattern]") {
  HostPattern p = pattern("*.example.com");
  CHECK_FALSE(p.matches(""));
  CHECK_FALSE(p.matches("."));
  CHECK_FALSE(p.matches(std::string("a\0.example.com", 15)));
  CHECK_FALSE(p.matches("a b.example.com"));
  CHECK_FALSE(p.matches("a.example.com:443"));
}
