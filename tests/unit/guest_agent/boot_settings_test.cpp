#include <catch2/catch.hpp>

#include "boot_settings.h"
#include "core/base64.h"

using namespace matchlock;
using namespace matchlock::guest_agent;

namespace {

std::string entropy_field(size_t bytes) {
  return "\"entropy\":\"" + base64::encode(std::string(bytes, '\x5a')) + "\"";
}

}  // namespace

TEST_CASE("CONFIG's boot settings: entropy, clock and restored", "[guest][config]") {
  auto plain = parse_boot_settings("{" + entropy_field(64) + ",\"hostname\":\"x\"}");
  REQUIRE(plain.ok());
  CHECK(plain->entropy == std::string(64, '\x5a'));
  CHECK_FALSE(plain->time_unix_ms);
  CHECK_FALSE(plain->restored);

  auto restored = parse_boot_settings("{" + entropy_field(64) +
                                      ",\"time_unix_ms\":1700000000123,\"restored\":true}");
  REQUIRE(restored.ok());
  CHECK(restored->time_unix_ms == 1700000000123);
  CHECK(restored->restored);
}

TEST_CASE("CONFIG without exactly 64 bytes of entropy is refused", "[guest][config]") {
  CHECK_FALSE(parse_boot_settings(R"({"hostname":"x"})").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(63) + "}").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(65) + "}").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(0) + "}").ok());
  CHECK_FALSE(parse_boot_settings(R"({"entropy":"not base64!"})").ok());
  CHECK_FALSE(parse_boot_settings(R"({"entropy":64})").ok());
  auto error = parse_boot_settings(R"({"entropy":null})");
  REQUIRE_FALSE(error.ok());
  CHECK(error.error().message.find("entropy") != std::string::npos);
}

TEST_CASE("CONFIG boot settings of the wrong type are refused", "[guest][config]") {
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(64) + ",\"restored\":1}").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(64) + ",\"restored\":\"yes\"}").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(64) + ",\"time_unix_ms\":\"now\"}").ok());
  CHECK_FALSE(parse_boot_settings("[]").ok());
  CHECK_FALSE(parse_boot_settings("{").ok());
}
