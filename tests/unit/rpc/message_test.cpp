#include <rapidjson/document.h>
#include <catch2/catch.hpp>

#include "rpc/message.h"

using namespace matchlock::rpc;

TEST_CASE("request_with_integer_id_and_params_parses", "[rpc][message]") {
  auto r =
      parse_request(R"({"jsonrpc":"2.0","method":"exec","params":{"command":"echo hi"},"id":2})");
  REQUIRE(r.has_value());
  CHECK(r->method == "exec");
  CHECK(r->id == 2u);
  REQUIRE(r->params != nullptr);
  CHECK((*r->params)["command"] == "echo hi");
}

TEST_CASE("request_without_params_or_id_parses", "[rpc][message]") {
  auto r = parse_request(R"({"jsonrpc":"2.0","method":"close"})");
  REQUIRE(r.has_value());
  CHECK_FALSE(r->id.has_value());
  CHECK(r->params == nullptr);
  auto n = parse_request(R"({"method":"cancel","params":null,"id":null})");
  REQUIRE(n.has_value());
  CHECK(n->params == nullptr);
  CHECK_FALSE(n->id.has_value());
}

TEST_CASE("request_with_string_negative_or_fractional_id_is_a_parse_error", "[rpc][message]") {
  CHECK_FALSE(parse_request(R"({"method":"exec","id":"1"})").has_value());
  CHECK_FALSE(parse_request(R"({"method":"exec","id":-1})").has_value());
  CHECK_FALSE(parse_request(R"({"method":"exec","id":1.5})").has_value());
  CHECK_FALSE(parse_request(R"({"method":"exec","id":1.0})").has_value());
  CHECK(parse_request(R"({"method":"exec","id":18446744073709551615})").has_value());
}

TEST_CASE("array_invalid_json_and_non_string_method_are_parse_errors", "[rpc][message]") {
  CHECK_FALSE(parse_request(R"([{"method":"exec","id":1}])").has_value());
  CHECK_FALSE(parse_request(R"({"method":"exec","id":1)").has_value());
  CHECK_FALSE(parse_request(R"({"method":7,"id":1})").has_value());
  CHECK_FALSE(parse_request(R"("exec")").has_value());
  CHECK_FALSE(parse_request(R"({"method":"exec"} {"x":1})").has_value());
}

TEST_CASE("result_line_has_jsonrpc_result_object_and_integer_id", "[rpc][message]") {
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("cancelled", true, d.GetAllocator());
  CHECK(result_line(7, d) == "{\"jsonrpc\":\"2.0\",\"result\":{\"cancelled\":true},\"id\":7}\n");
  rapidjson::Value empty(rapidjson::kObjectType);
  CHECK(result_line(1, empty) == "{\"jsonrpc\":\"2.0\",\"result\":{},\"id\":1}\n");
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
