#include "rpc/exec_env_param.h"

#include <rapidjson/document.h>
#include <catch2/catch.hpp>

using namespace matchlock::rpc;

namespace {
rapidjson::Document parse(const char* json) {
  rapidjson::Document d;
  d.Parse(json);
  return d;
}
}  // namespace

TEST_CASE("exec_env_absent_or_null_is_no_variables", "[rpc][exec_env]") {
  CHECK(parse_exec_env(nullptr)->empty());
  auto d = parse("null");
  CHECK(parse_exec_env(&d)->empty());
}

TEST_CASE("exec_env_object_becomes_k_eq_v_in_order", "[rpc][exec_env]") {
  auto d = parse(R"({"B":"2","A":"x=y","E":""})");
  auto env = parse_exec_env(&d);
  REQUIRE(env.ok());
  CHECK(*env == std::vector<std::string>{"B=2", "A=x=y", "E="});
}

TEST_CASE("exec_env_rejects_bad_shapes_and_names", "[rpc][exec_env]") {
  for (const char* bad : {R"(["A=1"])", R"("A=1")", R"({"A":1})", R"({"":"x"})", R"({"A=B":"x"})",
                          R"({"A\u0000":"x"})", R"({"A":"x\u0000y"})"}) {
    auto d = parse(bad);
    auto env = parse_exec_env(&d);
    CHECK_FALSE(env.ok());
    if (!env.ok()) CHECK(env.error().message.rfind("invalid env", 0) == 0);
  }
}
