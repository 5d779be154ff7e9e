#include "net/policy/allow_list.h"

#include <catch2/catch.hpp>

using matchlock::net::policy::AllowList;
using matchlock::net::policy::EmptyListMeans;
using Hosts = std::vector<std::string>;

TEST_CASE("allow-list add trims, skips duplicates and reports what was added",
          "[net][allow_list]") {
  AllowList list(EmptyListMeans::kAllowAll);
  REQUIRE(list.add({"api.openai.com"}).ok());
  auto result = list.add({" api.anthropic.com ", "api.openai.com", "API.anthropic.com.", ""});
  REQUIRE(result.ok());
  CHECK(result->added == Hosts{"api.anthropic.com"});
  CHECK(result->allowed_hosts == Hosts{"api.openai.com", "api.anthropic.com"});
}

TEST_CASE("allow-list add with one invalid pattern changes nothing", "[net][allow_list]") {
  AllowList list(EmptyListMeans::kAllowAll);
  auto result = list.add({"good.example.com", "bad pattern"});
  REQUIRE_FALSE(result.ok());
  CHECK(result.error().message.find("\"bad pattern\"") != std::string::npos);
  CHECK(list.empty());
}

TEST_CASE("allow-list delete reports removed hosts in list order, deduplicated",
          "[net][allow_list]") {
  AllowList list(EmptyListMeans::kAllowAll);
  REQUIRE(list.add({"a.com", "b.com", "c.com"}).ok());
  auto result = list.remove({"c.com", "A.COM.", "a.com", "unknown.com", "not valid"});
  CHECK(result.removed == Hosts{"a.com", "c.com"});
  CHECK(result.allowed_hosts == Hosts{"b.com"});
}

TEST_CASE("empty allow-list allows all only when the caller says so", "[net][allow_list]") {
  AllowList open(EmptyListMeans::kAllowAll);
  AllowList closed(EmptyListMeans::kDenyAll);
  CHECK(open.allows("anything.example"));
  CHECK_FALSE(closed.allows("anything.example"));
  REQUIRE(closed.add({"x.com"}).ok());
  CHECK(closed.allows("x.com"));
  closed.remove({"x.com"});
  CHECK_FALSE(closed.allows("x.com"));
}

TEST_CASE("allow-list matches hosts against every rule in order", "[net][allow_list]") {
  AllowList list(EmptyListMeans::kDenyAll);
  REQUIRE(list.add({"*.example.com", "example.com", "10.0.0.1"}).ok());
  CHECK(list.first_match("api.example.com")->text() == "*.example.com");
  CHECK(list.first_match("example.com")->text() == "example.com");
  CHECK(list.allows("::ffff:10.0.0.1"));
  CHECK_FALSE(list.allows("example.org"));
}

TEST_CASE("IPv6 spellings of one address are one allow-list rule", "[net][allow_list]") {
  AllowList list(EmptyListMeans::kDenyAll);
  REQUIRE(list.add({"[2001:db8::1]"}).ok());
  auto result = list.add({"2001:DB8:0::1"});
  REQUIRE(result.ok());
  CHECK(result->added.empty());
  CHECK(list.hosts() == Hosts{"2001:db8::1"});
}
