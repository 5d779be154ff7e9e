// VFS hook rules: parsing (errors name the field), matching, errno names.
#include <rapidjson/document.h>

#include <catch2/catch.hpp>

#include "vfs/hook_rules.h"

using namespace matchlock;
using namespace matchlock::vfs;

namespace {

Result<HookSettings> parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  REQUIRE_FALSE(d.HasParseError());
  return parse_hook_settings(d, "vfs.interception");
}

std::string error_of(const char* json) {
  auto r = parse(json);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

FileOperation op(FileOp kind, const char* path) {
  FileOperation o;
  o.op = kind;
  o.path = path;
  return o;
}

}  // namespace

TEST_CASE("file_op_names_round_trip", "[vfs][hooks]") {
  for (auto k : {FileOp::kStat, FileOp::kReaddir, FileOp::kWrite, FileOp::kTruncate,
                 FileOp::kRemove, FileOp::kUtimens}) {
    CHECK(parse_file_op(file_op_name(k)) == k);
  }
  CHECK(parse_file_op("read_dir") == FileOp::kReaddir);
  CHECK_FALSE(parse_file_op("x").has_value());
}

TEST_CASE("hook_settings_parse_every_field", "[vfs][hooks]") {
  auto r = parse(R"({"emit_events":true,"callback_socket":"/tmp/h.sock","rules":[
      {"name":"a","phase":"AFTER","ops":["write","Read_Dir"],"path":"/workspace/*",
       "action":"allow","callback_id":"cb1","timeout_ms":250},
      {"phase":"before","action":"block","errno":"EACCES"},
      {"action":"block","errno":28},
      {"action":"mutate_write","callback_id":"cb2"},
      {"ops":["remove_all"],"action":"block"}]})");
  REQUIRE(r.ok());
  CHECK(r->emit_events);
  CHECK(r->callback_socket == "/tmp/h.sock");
  REQUIRE(r->rules.size() == 5);
  const auto& a = r->rules[0];
  CHECK(a.name == "a");
  CHECK(a.phase == HookPhase::kAfter);
  CHECK(a.ops == std::vector<FileOp>{FileOp::kWrite, FileOp::kReaddir});
  CHECK(a.path == "/workspace/*");
  CHECK(a.callback_id == "cb1");
  CHECK(a.timeout_ms == 250);
  CHECK(r->rules[1].phase == HookPhase::kBefore);
  CHECK(r->rules[1].action == HookAction::kBlock);
  CHECK(r->rules[1].error == EACCES);
  CHECK(r->rules[2].error == 28);
  CHECK(r->rules[3].action == HookAction::kMutateWrite);
  CHECK(r->rules[4].only_unmatchable_ops);
  CHECK_FALSE(r->rules[4].matches(op(FileOp::kRemove, "/workspace/a")));
  CHECK(parse(R"({"action":"block"})")->rules.empty());
  CHECK(parse(R"({"rules":[{"action":"block"}]})")->rules[0].error == EPERM);
}

TEST_CASE("hook_rule_errors_name_the_field", "[vfs][hooks]") {
  CHECK(error_of(R"({"rules":[{"ops":["x"]}]})") ==
        R"(vfs.interception.rules[0].ops: unknown op "x")");
  CHECK(error_of(R"({"rules":[{},{"phase":"during"}]})") ==
        R"(vfs.interception.rules[1].phase: unknown phase "during" (before, after))");
  CHECK(
      error_of(R"({"rules":[{"action":"exec_after"}]})") ==
      R"(vfs.interception.rules[0].action: unknown action "exec_after" (allow, block, mutate_write))");
  CHECK(error_of(R"({"rules":[{"action":"block","errno":"ENOPE"}]})")
            .rfind("vfs.interception.rules[0].errno: ", 0) == 0);
  CHECK(error_of(R"({"rules":[{"action":"block","errno":0}]})")
            .rfind("vfs.interception.rules[0].errno: ", 0) == 0);
  CHECK(error_of(R"({"rules":[{"action":"mutate_write"}]})") ==
        "vfs.interception.rules[0].action: mutate_write needs a callback_id");
  CHECK(error_of(R"({"callback_socket":"/s","rules":[{"action":"block","callback_id":"c"}]})") ==
        "vfs.interception.rules[0].callback_id: a block rule cannot have a callback");
  CHECK(error_of(R"({"rules":[{"callback_id":"c"}]})") ==
        "vfs.interception.rules[0].callback_id: needs vfs.interception.callback_socket");
  CHECK(error_of(R"({"rules":[{"timeout_ms":-1}]})") ==
        "vfs.interception.rules[0].timeout_ms: must be a non-negative integer");
  CHECK(error_of(R"({"rules":{}})") == "vfs.interception.rules: must be an array");
  CHECK(error_of(R"({"emit_events":"yes"})") == "vfs.interception.emit_events: must be a boolean");
  CHECK(error_of(R"([])") == "vfs.interception: must be an object");
}

TEST_CASE("hook_rules_match_ops_and_path_globs", "[vfs][hooks]") {
  HookRule r;
  CHECK(r.matches(op(FileOp::kStat, "/anything")));
  r.path = "/workspace/*";
  CHECK(r.matches(op(FileOp::kWrite, "/workspace/a.txt")));
  CHECK_FALSE(r.matches(op(FileOp::kWrite, "/workspace/src/a.txt")));  // * does not cross /
  CHECK_FALSE(r.matches(op(FileOp::kWrite, "/workspace")));
  r.path = "/workspace/*/*.c";
  CHECK(r.matches(op(FileOp::kWrite, "/workspace/src/a.c")));
  r.path = "";
  r.ops = {FileOp::kWrite, FileOp::kCreate};
  CHECK(r.matches(op(FileOp::kCreate, "/w/x")));
  CHECK_FALSE(r.matches(op(FileOp::kRead, "/w/x")));
}

TEST_CASE("errno_names_and_numbers", "[vfs][hooks]") {
  rapidjson::Document d;
  CHECK(parse_errno(d.Parse(R"("EACCES")")) == EACCES);
  CHECK(parse_errno(d.Parse("13")) == 13);
  CHECK_FALSE(parse_errno(d.Parse("4096")).has_value());
  CHECK_FALSE(parse_errno(d.Parse("-1")).has_value());
  CHECK_FALSE(parse_errno(d.Parse(R"("eacces")")).has_value());
  CHECK_FALSE(parse_errno(d.Parse("1.5")).has_value());
  CHECK(errno_name(EROFS) == "EROFS");
  CHECK(errno_name(200) == "200");
}
