#include <catch2/catch.hpp>

#include "core/base64.h"

using namespace matchlock;

TEST_CASE("base64_encodes_rfc4648_test_vectors_with_padding", "[base64]") {
  CHECK(base64::encode("") == "");
  CHECK(base64::encode("f") == "Zg==");
  CHECK(base64::encode("fo") == "Zm8=");
  CHECK(base64::encode("foo") == "Zm9v");
  CHECK(base64::encode("foob") == "Zm9vYg==");
  CHECK(base64::encode("fooba") == "Zm9vYmE=");
  CHECK(base64::encode("foobar") == "Zm9vYmFy");
  CHECK(base64::encode("hello") == "aGVsbG8=");
}

TEST_CASE("base64_round_trips_every_byte_value", "[base64]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t len = 0; len <= all.size(); len += 37) {
    std::string in = all.substr(0, len);
    auto out = base64::decode(base64::encode(in));
    REQUIRE(out.has_value());
    CHECK(*out == in);
  }
  CHECK(base64::encode(all).find_first_of("-_") == std::string::npos);
}

TEST_CASE("base64_encode_append_adds_to_what_is_there", "[base64]") {
  std::string line = "x:";
  base64::encode_append(line, "foob");
  CHECK(line == "x:Zm9vYg==");
  for (size_t n : {0, 1, 2, 3, 4, 1000}) {
    CHECK(base64::encoded_size(n) == base64::encode(std::string(n, 'a')).size());
  }
}

TEST_CASE("base64_decode_rejects_invalid_input", "[base64]") {
  CHECK_FALSE(base64::decode("Zg").has_value());         // missing padding
  CHECK_FALSE(base64::decode("Zg=").has_value());        // short
  CHECK_FALSE(base64::decode("Z===").has_value());       // too much padding
  CHECK_FALSE(base64::decode("Zg==Zg==").has_value());   // padding in the middle
  CHECK_FALSE(base64::decode("Zm9v YmFy").has_value());  // whitespace
  CHECK_FALSE(base64::decode("Zm9-").has_value());       // url-safe alphabet
  CHECK_FALSE(base64::decode("=Zm9").has_value());
  CHECK(base64::decode("").value() == "");
  CHECK(base64::decode("aGVsbG8=").value() == "hello");
}
