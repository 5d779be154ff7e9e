#include "sandbox/port_forward_spec.h"

#include <catch2/catch.hpp>

using namespace matchlock;
using namespace matchlock::sandbox;

namespace {
std::string error_of(std::string_view spec) {
  auto r = parse_port_forward_spec(spec);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  return r.error().message;
}
}  // namespace

TEST_CASE("port_forward_spec_host_and_guest", "[port_forward_spec]") {
  auto r = parse_port_forward_spec("18080:8080");
  REQUIRE(r.ok());
  CHECK_FALSE(r->address);
  CHECK(r->host_port == 18080);
  CHECK(r->guest_port == 8080);
}

TEST_CASE("port_forward_spec_guest_alone_uses_the_same_host_port", "[port_forward_spec]") {
  auto r = parse_port_forward_spec("8080");
  REQUIRE(r.ok());
  CHECK(r->host_port == 8080);
  CHECK(r->guest_port == 8080);
}

TEST_CASE("port_forward_spec_with_addresses", "[port_forward_spec]") {
  auto v4 = parse_port_forward_spec("0.0.0.0:80:8080");
  REQUIRE(v4.ok());
  CHECK(v4->address == "0.0.0.0");
  CHECK(v4->host_port == 80);
  auto v6 = parse_port_forward_spec("[::1]:18080:80");
  REQUIRE(v6.ok());
  CHECK(v6->address == "::1");
  CHECK(v6->host_port == 18080);
  CHECK(v6->guest_port == 80);
  auto local = parse_port_forward_spec("localhost:1:65535");
  REQUIRE(local.ok());
  CHECK(local->address == "127.0.0.1");
  CHECK(local->guest_port == 65535);
}

TEST_CASE("port_forward_spec_host_port_zero_means_any_free_port", "[port_forward_spec]") {
  auto r = parse_port_forward_spec("127.0.0.1:0:80");
  REQUIRE(r.ok());
  CHECK(r->host_port == 0);
}

TEST_CASE("port_forward_spec_errors_name_the_spec_and_the_bad_part", "[port_forward_spec]") {
  CHECK(error_of("abc:80") == "invalid port forward \"abc:80\": host port \"abc\" is not a number");
  CHECK(error_of("80:http") ==
        "invalid port forward \"80:http\": guest port \"http\" is not a number");
  CHECK(error_of("80:0") ==
        "invalid port forward \"80:0\": guest port 0 is out of range (1-65535)");
  CHECK(error_of("0") == "invalid port forward \"0\": guest port 0 is out of range (1-65535)");
  CHECK(error_of("70000:80") ==
        "invalid port forward \"70000:80\": host port 70000 is out of range (0-65535)");
  CHECK(error_of("80:65536").find("guest port 65536 is out of range") != std::string::npos);
  CHECK(error_of("1.2.3:80:80") ==
        "invalid port forward \"1.2.3:80:80\": address \"1.2.3\" is not an IP address (or "
        "localhost)");
  CHECK(error_of("host.example:80:80").find("is not an IP address") != std::string::npos);
  CHECK(error_of("").find("guest port \"\" is not a number") != std::string::npos);
  CHECK(error_of(":80").find("host port \"\" is not a number") != std::string::npos);
  CHECK(error_of("-1:80").find("host port \"-1\" is not a number") != std::string::npos);
  CHECK(error_of("+80").find("is not a number") != std::string::npos);
  CHECK(error_of("080080:80").find("is not a number") != std::string::npos);
  CHECK(error_of("::1:80:80").find("in brackets") != std::string::npos);
  CHECK(error_of("[::1:80:80").find("expected [ADDR]:HOST:GUEST") != std::string::npos);
  CHECK(error_of("[::1]:80").find("expected [ADDR]:HOST:GUEST") != std::string::npos);
  CHECK(error_of("[::1]:1:2:3").find("expected") != std::string::npos);
}

TEST_CASE("listen_address_accepts_literals_and_localhost", "[port_forward_spec]") {
  CHECK(*parse_listen_address("127.0.0.1") == "127.0.0.1");
  CHECK(*parse_listen_address("localhost") == "127.0.0.1");
  CHECK(*parse_listen_address("[::1]") == "::1");
  CHECK(*parse_listen_address("0:0::1") == "::1");
  CHECK_FALSE(parse_listen_address("").ok());
  CHECK_FALSE(parse_listen_address("256.0.0.1").ok());
  CHECK_FALSE(parse_listen_address("example.com").ok());
}
