// json::Document refuses documents nested deeper than json::kMaxDepth: RapidJSON recurses per
// level, and a megabyte of '[' from a guest, a registry or an rpc client overflowed the stack.
#include <catch2/catch.hpp>

#include <string>

#include "core/json.h"
#include "rpc/message.h"

using namespace matchlock;

namespace {

std::string nested(size_t depth, std::string_view inner = "1") {
  return std::string(depth, '[') + std::string(inner) + std::string(depth, ']');
}

}  // namespace

TEST_CASE("within_depth counts brackets outside strings only", "[json]") {
  CHECK(json::within_depth("[[1]]", 2) == 5);
  CHECK(json::within_depth("[[[1]]]", 2) == 3);  // cut right after the third '['
  CHECK(json::within_depth(R"({"a":"[[[[","b":{}})", 2) == 19);
  CHECK(json::within_depth(R"(["\"[[[[", {}])", 2) == 14);  // an escaped quote stays in the string
  CHECK(json::within_depth(R"(["\\", [[1]]])", 2) == 9);    // an escaped backslash ends it
  CHECK(json::within_depth("]]]][", 1) == 5);               // stray closers never go below zero
  CHECK(json::within_depth("", 0) == 0);
}

TEST_CASE("a document at the depth limit parses, one level deeper fails without recursing",
          "[json]") {
  json::Document ok;
  ok.Parse(nested(json::kMaxDepth));
  CHECK_FALSE(ok.HasParseError());

  json::Document too_deep;
  too_deep.Parse(nested(json::kMaxDepth + 1));
  REQUIRE(too_deep.HasParseError());
  CHECK(too_deep.GetErrorOffset() == json::kMaxDepth + 1);

  // A million levels (this overflowed the stack before) fails the same way, at once.
  json::Document huge;
  huge.Parse<rapidjson::kParseNumbersAsStringsFlag>(nested(1'000'000));
  CHECK(huge.HasParseError());
}

TEST_CASE("an rpc line nested a million levels deep is a parse error naming the limit", "[json]") {
  const std::string line =
      R"({"jsonrpc":"2.0","id":1,"method":"version","params":)" + nested(1'000'000) + "}";
  auto parsed = rpc::parse_request(line);
  REQUIRE(std::holds_alternative<rpc::RejectedLine>(parsed));
  const auto& rejected = std::get<rpc::RejectedLine>(parsed);
  CHECK(rejected.code == rpc::kParseError);
  CHECK(rejected.message == "Parse error: nested deeper than 512 levels");
}
