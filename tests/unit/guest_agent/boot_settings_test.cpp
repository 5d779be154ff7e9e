#include <catch2/catch.hpp>

#include "boot_settings.h"
#include "core/base64.h"

using namespace matchlock;
using namespace matchlock::guest_agent;

namespace {

const std::string kToken(64, 'c');

// A valid channel token, then "entropy" of `bytes` bytes.
std::string entropy_field(size_t bytes) {
  return "\"channel_token\":\"" + kToken + "\",\"entropy\":\"" +
         base64::encode(std::string(bytes, '\x5a')) + "\"";
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

// A restored guest re-probes its data disks only when the sandbox has some: the probe reads
// every disk's serial from the device, which is slow under TCG.
TEST_CASE("CONFIG's boot settings say whether there are data disks", "[guest][config]") {
  auto none = parse_boot_settings("{" + entropy_field(64) + "}");
  REQUIRE(none.ok());
  CHECK_FALSE(none->data_disks);
  auto empty = parse_boot_settings("{" + entropy_field(64) + ",\"disks\":[]}");
  REQUIRE(empty.ok());
  CHECK_FALSE(empty->data_disks);
  auto some = parse_boot_settings("{" + entropy_field(64) +
                                  R"(,"disks":[{"serial":"disk0","path":"/data"}]})");
  REQUIRE(some.ok());
  CHECK(some->data_disks);
}

TEST_CASE("CONFIG without exactly 64 bytes of entropy is refused", "[guest][config]") {
  CHECK_FALSE(parse_boot_settings(R"({"hostname":"x"})").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(63) + "}").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(65) + "}").ok());
  CHECK_FALSE(parse_boot_settings("{" + entropy_field(0) + "}").ok());
  const std::string token = "{\"channel_token\":\"" + kToken + "\",";
  CHECK_FALSE(parse_boot_settings(token + R"("entropy":"not base64!"})").ok());
  CHECK_FALSE(parse_boot_settings(token + R"("entropy":64})").ok());
  auto error = parse_boot_settings(token + R"("entropy":null})");
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

TEST_CASE("CONFIG without a well-formed channel token is refused", "[guest][config]") {
  std::string entropy = "\"entropy\":\"" + base64::encode(std::string(64, 'x')) + "\"";
  auto ok = parse_boot_settings("{" + entropy_field(64) + "}");
  REQUIRE(ok.ok());
  CHECK(ok->channel_token == kToken);
  for (std::string token :
       {std::string(""), std::string(63, 'a'), std::string(65, 'a'), std::string(64, 'G'),
        std::string(64, 'A'), std::string(63, 'a') + "-"}) {
    auto bad = parse_boot_settings("{\"channel_token\":\"" + token + "\"," + entropy + "}");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("channel_token") != std::string::npos);
  }
  auto missing = parse_boot_settings("{" + entropy + "}");
  REQUIRE_FALSE(missing.ok());
  auto number = parse_boot_settings("{\"channel_token\":7," + entropy + "}");
  REQUIRE_FALSE(number.ok());
}
