#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include "rpc/message.h"

#include <variant>

using namespace matchlock::rpc;

namespace {

std::optional<Request> request(std::string_view line) {
  auto parsed = parse_request(line);
  if (auto* r = std::get_if<Request>(&parsed)) return std::move(*r);
  return std::nullopt;
}

RejectedLine rejected(std::string_view line) {
  auto parsed = parse_request(line);
  REQUIRE(std::holds_alternative<RejectedLine>(parsed));
  return std::get<RejectedLine>(parsed);
}

}  // namespace

TEST_CASE("request_with_integer_id_and_params_parses", "[rpc][message]") {
  auto r = request(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"echo hi"},"id":2})");
  REQUIRE(r.has_value());
  CHECK(r->method == "exec");
  CHECK(r->id == 2u);
  REQUIRE(r->params != nullptr);
  CHECK((*r->params)["command"] == "echo hi");
}

TEST_CASE("request_without_params_or_id_parses", "[rpc][message]") {
  auto r = request(R"({"jsonrpc":"2.0","method":"close"})");
  REQUIRE(r.has_value());
  CHECK_FALSE(r->id.has_value());
  CHECK(r->params == nullptr);
  auto n = request(R"({"jsonrpc":"2.0","method":"cancel","params":null,"id":null})");
  REQUIRE(n.has_value());
  CHECK(n->params == nullptr);
  CHECK_FALSE(n->id.has_value());
}

TEST_CASE("request_with_string_negative_or_fractional_id_is_an_invalid_request", "[rpc][message]") {
  for (const char* line : {R"({"jsonrpc":"2.0","method":"exec","id":"1"})",
                           R"({"jsonrpc":"2.0","method":"exec","id":-1})",
                           R"({"jsonrpc":"2.0","method":"exec","id":1.5})",
                           R"({"jsonrpc":"2.0","method":"exec","id":1.0})"}) {
    auto e = rejected(line);
    CHECK(e.code == kInvalidRequest);
    CHECK_FALSE(e.id.has_value());
  }
  CHECK(request(R"({"jsonrpc":"2.0","method":"exec","id":18446744073709551615})").has_value());
}

TEST_CASE("only_text_that_is_not_json_is_a_parse_error", "[rpc][message]") {
  CHECK(rejected(R"({"jsonrpc":"2.0","method":"exec","id":1)").code == kParseError);
  CHECK(rejected(R"({"method":"exec"} {"x":1})").code == kParseError);
  CHECK(rejected("").code == kParseError);
}

TEST_CASE("batches_and_non_objects_are_invalid_requests", "[rpc][message]") {
  for (const char* line :
       {"[]", R"([{"jsonrpc":"2.0","method":"exec","id":1}])", R"("exec")", "7", "null"}) {
    auto e = rejected(line);
    CHECK(e.code == kInvalidRequest);
    CHECK_FALSE(e.id.has_value());
  }
  CHECK(rejected("[]").message == "Invalid Request: batches are not supported");
}

TEST_CASE("invalid_requests_keep_their_id_when_it_is_usable", "[rpc][message]") {
  auto no_method = rejected(R"({"jsonrpc":"2.0","id":1})");
  CHECK(no_method.code == kInvalidRequest);
  CHECK(no_method.id == 1u);
  CHECK(no_method.message == "Invalid Request: method is required");
  auto bad_method = rejected(R"({"jsonrpc":"2.0","method":7,"id":2})");
  CHECK(bad_method.code == kInvalidRequest);
  CHECK(bad_method.id == 2u);
  auto old_version = rejected(R"({"jsonrpc":"1.0","method":"version","id":3})");
  CHECK(old_version.id == 3u);
  CHECK(old_version.message == R"(Invalid Request: jsonrpc must be "2.0")");
  CHECK(rejected(R"({"method":"version","id":4})").id == 4u);
  CHECK(rejected(R"({"jsonrpc":2.0,"method":"version","id":5})").id == 5u);
  auto scalar_params = rejected(R"({"jsonrpc":"2.0","method":"exec","params":"ls","id":6})");
  CHECK(scalar_params.code == kInvalidRequest);
  CHECK(scalar_params.id == 6u);
  CHECK(request(R"({"jsonrpc":"2.0","method":"exec","params":[],"id":7})").has_value());
}

TEST_CASE("result_line_has_jsonrpc_result_object_and_integer_id", "[rpc][message]") {
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("cancelled", true, d.GetAllocator());
  CHECK(result_line(7, d) == "{\"jsonrpc\":\"2.0\",\"result\":{\"cancelled\":true},\"id\":7}\n");
  rapidjson::Value empty(rapidjson::kObjectType);
  CHECK(result_line(1, empty) == "{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":1}\n");
}

TEST_CASE("result_line_with_payloads_appends_base64_members_to_the_small_ones", "[rpc][message]") {
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("exit_code", 3, d.GetAllocator());
  const std::string bytes("\0\xff\"\\\n", 5);  // nothing a payload holds needs escaping
  CHECK(result_line_with_payloads(9, d, {{"stdout", {bytes}}, {"stderr", {}}}) ==
        "{\"jsonrpc\":\"2.0\",\"result\":{\"exit_code\":3,\"stdout\":\"AP8iXAo=\","
        "\"stderr\":\"\"},\"id\":9}\n");
  rapidjson::Value empty(rapidjson::kObjectType);
  CHECK(result_line_with_payloads(std::nullopt, empty, {{"content", {"hi"}}}) ==
        "{\"jsonrpc\":\"2.0\",\"result\":{\"content\":\"aGk=\"}}\n");
  CHECK(result_line_with_payloads(2, empty, {}) == result_line(2, empty));
  // Built at its final size: no reallocation left slack behind a large payload.
  const std::string big(3 << 20, 'z');
  std::string line = result_line_with_payloads(2, d, {{"stdout", {big}}});
  CHECK(line.capacity() - line.size() < 64);
  // Pieces (BlockBuffer's blocks) encode as one payload.
  CHECK(result_line_with_payloads(1, empty, {{"content", {"foo", "bar", "ba"}}}) ==
        result_line_with_payloads(1, empty, {{"content", {"foobarba"}}}));
}

TEST_CASE("error_line_without_id_has_no_id_key", "[rpc][message]") {
  CHECK(error_line(std::nullopt, kParseError, "Parse error") ==
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":\"Parse error\"}}\n");
  CHECK(error_line(3, kVmFailed, "VM not created") ==
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32000,\"message\":\"VM not "
        "created\"},\"id\":3}\n");
}

TEST_CASE("error_messages_with_invalid_utf8_stay_valid_json", "[rpc][message]") {
  std::string line = error_line(1, kExecFailed, std::string("bad \xff\xfe byte \"q\""));
  rapidjson::Document d;
  d.Parse<rapidjson::kParseValidateEncodingFlag>(line.c_str());
  REQUIRE_FALSE(d.HasParseError());
  CHECK(std::string(d["error"]["message"].GetString()) ==
        "bad \xef\xbf\xbd\xef\xbf\xbd byte \"q\"");
  CHECK(sanitize_utf8("h\xc3\xa9llo \xe2\x82\xac") == "h\xc3\xa9llo \xe2\x82\xac");
}

TEST_CASE("notifications_carry_the_request_id_inside_params", "[rpc][message]") {
  CHECK(data_notification_line("exec_stream.stdout", 3, "1\n") ==
        "{\"jsonrpc\":\"2.0\",\"method\":\"exec_stream.stdout\",\"params\":{\"id\":3,\"data\":"
        "\"MQo=\"}}\n");
  CHECK(id_notification_line("exec_pipe.ready", 4) ==
        "{\"jsonrpc\":\"2.0\",\"method\":\"exec_pipe.ready\",\"params\":{\"id\":4}}\n");
}

// Found by fuzz/rpc_request: a number too large for a double parses as infinity, and RapidJSON's
// writer stopped at it, leaving a line that was not JSON. Written as null now.
TEST_CASE("a_result_holding_a_number_beyond_double_range_is_still_one_json_line",
          "[rpc][message]") {
  auto r = request(
      R"({"jsonrpc":"2.0","id":1,"method":"m","params":{"t":1644478407370955161E300,"u":2}})");
  REQUIRE(r.has_value());
  std::string line = result_line(r->id, *r->params);
  REQUIRE(line.back() == '\n');
  rapidjson::Document d;
  d.Parse(line.data(), line.size() - 1);
  REQUIRE_FALSE(d.HasParseError());
  CHECK(d["result"]["t"].IsNull());
  CHECK(d["result"]["u"].GetInt() == 2);
  CHECK(d["id"].GetInt() == 1);
}
