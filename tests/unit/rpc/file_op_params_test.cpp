// The params of stat_file / make_dir / remove_file / rename_file, garbage included: every
// refusal names its field.
#include "rpc/file_op_params.h"

#include <catch2/catch.hpp>
#include <string>

using namespace matchlock;
using namespace matchlock::rpc;

namespace {

// The parsed "params" member of a request line (null when absent).
struct Params {
  rapidjson::Document doc;
  const rapidjson::Value* value = nullptr;
  explicit Params(const std::string& json) {
    doc.Parse(json.c_str(), json.size());
    REQUIRE_FALSE(doc.HasParseError());
    value = &doc;
  }
};

template <typename T>
std::string refusal(const Result<T>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  return r.error().message;
}

}  // namespace

TEST_CASE("file op params: paths must be absolute guest paths", "[rpc][files]") {
  CHECK(*parse_stat_file_params(Params(R"({"path":"/etc/hosts"})").value) == "/etc/hosts");
  CHECK(refusal(parse_stat_file_params(nullptr)) == "invalid path: required");
  const std::pair<std::string, std::string> cases[] = {
      {R"({})", "invalid path: required"},
      {R"({"path":null})", "invalid path: required"},
      {R"({"path":""})", "invalid path: must be an absolute guest path"},
      {R"({"path":"etc/hosts"})", "invalid path: must be an absolute guest path"},
      {R"({"path":7})", "invalid path: must be a string"},
      {R"({"path":["/a"]})", "invalid path: must be a string"},
      {R"({"path":"/a\u0000b"})", "invalid path: contains a NUL byte"},
      {R"({"path":"/)" + std::string(4096, 'a') + R"("})", "invalid path: longer than 4096 bytes"},
      {R"(["/etc"])", "invalid params: must be an object"},
      {R"("/etc")", "invalid params: must be an object"},
      {R"(42)", "invalid params: must be an object"},
  };
  for (const auto& [json, message] : cases) {
    INFO(json.substr(0, 60));
    CHECK(refusal(parse_stat_file_params(Params(json).value)) == message);
    CHECK(refusal(parse_remove_file_params(Params(json).value)) == message);
    CHECK(refusal(parse_make_dir_params(Params(json).value)) == message);
  }
  CHECK(*parse_stat_file_params(Params(R"({"path":"/)" + std::string(4095, 'a') + R"("})").value) ==
        "/" + std::string(4095, 'a'));
}

TEST_CASE("make_dir params: mode and parents", "[rpc][files]") {
  auto defaults = parse_make_dir_params(Params(R"({"path":"/d"})").value);
  REQUIRE(defaults.ok());
  CHECK(defaults->path == "/d");
  CHECK(defaults->mode == 0755);
  CHECK(defaults->parents);
  auto given = parse_make_dir_params(Params(R"({"path":"/d","mode":448,"parents":false})").value);
  REQUIRE(given.ok());
  CHECK(given->mode == 0700);
  CHECK_FALSE(given->parents);
  CHECK(parse_make_dir_params(Params(R"({"path":"/d","mode":0})").value)->mode == 0755);
  CHECK(parse_make_dir_params(Params(R"({"path":"/d","mode":4095})").value)->mode == 07777);
  CHECK(
      parse_make_dir_params(Params(R"({"path":"/d","mode":null,"parents":null})").value)->parents);
  for (const char* json :
       {R"({"path":"/d","mode":4096})", R"({"path":"/d","mode":-1})", R"({"path":"/d","mode":1.5})",
        R"({"path":"/d","mode":"0755"})", R"({"path":"/d","mode":2147484141})",
        R"({"path":"/d","mode":18446744073709551615})"}) {
    INFO(json);
    CHECK(refusal(parse_make_dir_params(Params(json).value)) ==
          "invalid mode: must be an integer from 0 to 4095 (0o7777)");
  }
  for (const char* json : {R"({"path":"/d","parents":"yes"})", R"({"path":"/d","parents":1})"}) {
    CHECK(refusal(parse_make_dir_params(Params(json).value)) ==
          "invalid parents: must be a boolean");
  }
}

TEST_CASE("remove_file params: recursive", "[rpc][files]") {
  auto plain = parse_remove_file_params(Params(R"({"path":"/x"})").value);
  REQUIRE(plain.ok());
  CHECK_FALSE(plain->recursive);
  CHECK(parse_remove_file_params(Params(R"({"path":"/x","recursive":true})").value)->recursive);
  CHECK(refusal(parse_remove_file_params(Params(R"({"path":"/x","recursive":"true"})").value)) ==
        "invalid recursive: must be a boolean");
}

TEST_CASE("rename_file params: old_path and new_path", "[rpc][files]") {
  auto r = parse_rename_file_params(Params(R"({"old_path":"/a","new_path":"/b"})").value);
  REQUIRE(r.ok());
  CHECK(r->old_path == "/a");
  CHECK(r->new_path == "/b");
  CHECK(refusal(parse_rename_file_params(Params(R"({"new_path":"/b"})").value)) ==
        "invalid old_path: required");
  CHECK(refusal(parse_rename_file_params(Params(R"({"old_path":"/a"})").value)) ==
        "invalid new_path: required");
  CHECK(refusal(parse_rename_file_params(Params(R"({"old_path":"/a","new_path":"b"})").value)) ==
        "invalid new_path: must be an absolute guest path");
  CHECK(refusal(parse_rename_file_params(Params(R"({"path":"/a","new_path":"/b"})").value)) ==
        "invalid old_path: required");
  CHECK(refusal(parse_rename_file_params(nullptr)) == "invalid old_path: required");
}
