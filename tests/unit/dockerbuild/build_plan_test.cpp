#include <catch2/catch.hpp>

#include "build_test_util.h"
#include "dockerbuild/build_plan.h"
#include "dockerbuild/word_expansion.h"

using namespace matchlock;
using namespace matchlock::dockerbuild;
using namespace matchlock::dockerbuild::testing;

namespace {

BuildArgs args(std::map<std::string, std::optional<std::string>> values) {
  return BuildArgs{std::move(values)};
}

EnvLookup env_with(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST_CASE("build_arg_name_value_and_name_from_environment", "[build][plan]") {
  auto env = env_with({{"TOKEN", "from-env"}});
  auto a = parse_build_arg("VERSION=1.2=3", env);
  REQUIRE(a);
  CHECK(a->first == "VERSION");
  CHECK(a->second == "1.2=3");
  auto empty = parse_build_arg("EMPTY=", env);
  REQUIRE(empty);
  CHECK(empty->second == "");
  auto from_env = parse_build_arg("TOKEN", env);
  REQUIRE(from_env);
  CHECK(from_env->second == "from-env");
  auto unset = parse_build_arg("MISSING", env);
  REQUIRE(unset);
  CHECK_FALSE(unset->second.has_value());
}

TEST_CASE("build_arg_without_name_is_an_error", "[build][plan]") {
  auto bad = parse_build_arg("=x", env_with({}));
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "--build-arg: expected NAME[=VALUE], got '=x'");
  CHECK_FALSE(parse_build_arg("", env_with({})));
}

TEST_CASE("build_args_later_flag_wins", "[build][plan]") {
  auto all = parse_build_args({"A=1", "B=2", "A=3"}, env_with({}));
  REQUIRE(all);
  CHECK(all->values.at("A") == "3");
  CHECK(all->values.at("B") == "2");
  CHECK_FALSE(parse_build_args({"A=1", "=2"}, env_with({})));
}

TEST_CASE("plan_single_stage_defaults_to_last_stage_as_target", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "FROM", "alpine:3.19"), shell_form(2, "RUN", "true")});
  auto plan = plan_build(df, {}, "");
  REQUIRE(plan);
  REQUIRE(plan->stages.size() == 1);
  CHECK(plan->stages[0].base == "alpine:3.19");
  CHECK_FALSE(plan->stages[0].base_stage);
  CHECK(plan->stages[0].line == 1);
  REQUIRE(plan->stages[0].body.size() == 1);
  CHECK(plan->stages[0].body[0] == &df.instructions[1]);
  CHECK(plan->target == 0);
  CHECK(plan->order == std::vector<size_t>{0});
}

TEST_CASE("plan_global_args_expand_in_from_with_defaults_and_overrides", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "ARG", "REPO=library"), shell_form(2, "ARG", "TAG=3.19"),
                        shell_form(3, "ARG", "IMAGE=${REPO}/alpine"),
                        shell_form(4, "FROM", "${IMAGE}:$TAG AS base")});
  auto plain = plan_build(df, {}, "");
  REQUIRE(plain);
  CHECK(plain->stages[0].base == "library/alpine:3.19");
  CHECK(plain->stages[0].name == "base");
  CHECK(plain->global_args.at("TAG") == "3.19");

  auto overridden = plan_build(df, args({{"TAG", "edge"}, {"REPO", "me"}}), "");
  REQUIRE(overridden);
  CHECK(overridden->stages[0].base == "me/alpine:edge");
  CHECK(overridden->unused_build_args.empty());
}

TEST_CASE("plan_build_arg_given_by_name_only_keeps_the_default", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "ARG", "TAG=1"), shell_form(2, "FROM", "busybox:$TAG")});
  auto plan = plan_build(df, args({{"TAG", std::nullopt}}), "");
  REQUIRE(plan);
  CHECK(plan->stages[0].base == "busybox:1");
}

TEST_CASE("plan_global_arg_without_value_is_unset_in_from", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "ARG", "BASE"), shell_form(2, "FROM", "${BASE:-busybox}")});
  auto plan = plan_build(df, {}, "");
  REQUIRE(plan);
  CHECK(plan->stages[0].base == "busybox");
  CHECK_FALSE(plan->global_args.count("BASE"));
}

TEST_CASE("plan_from_that_expands_to_nothing_is_an_error", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "ARG", "BASE"), shell_form(2, "FROM", "$BASE")});
  auto plan = plan_build(df, {}, "");
  REQUIRE_FALSE(plan);
  CHECK(plan.error().message == "line 2: base name ($BASE) should not be blank");
}

TEST_CASE("plan_stage_args_do_not_reach_from", "[build][plan]") {
  // An ARG inside a stage is not global: the second FROM sees only global ARGs.
  auto df = dockerfile({shell_form(1, "FROM", "busybox"), shell_form(2, "ARG", "V=x"),
                        shell_form(3, "FROM", "img${V}")});
  auto plan = plan_build(df, {}, "");
  REQUIRE(plan);
  CHECK(plan->stages[1].base == "img");
}

TEST_CASE("plan_automatic_platform_args_are_global", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox", {{"platform", "$BUILDPLATFORM"}})});
  auto plan = plan_build(df, args({{"TARGETARCH", "x"}}), "");
  REQUIRE(plan);
  CHECK(plan->stages[0].platform.rfind("linux/", 0) == 0);
  CHECK(plan->global_args.count("TARGETARCH"));
  // Not declared by any ARG: reported.
  CHECK(plan->unused_build_args == std::vector<std::string>{"TARGETARCH"});
}

TEST_CASE("plan_instruction_before_first_from_other_than_arg_is_an_error", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "ARG", "X=1"), shell_form(2, "RUN", "true"),
                        shell_form(3, "FROM", "busybox")});
  auto plan = plan_build(df, {}, "");
  REQUIRE_FALSE(plan);
  CHECK(plan.error().message == "line 2: no build stage in current context");
}

TEST_CASE("plan_without_from_is_an_error", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "ARG", "X=1")});
  CHECK_FALSE(plan_build(df, {}, ""));
}

TEST_CASE("plan_from_syntax_errors", "[build][plan]") {
  SECTION("two words") {
    auto df = dockerfile({shell_form(4, "FROM", "busybox builder")});
    auto plan = plan_build(df, {}, "");
    REQUIRE_FALSE(plan);
    CHECK(plan.error().message == "line 4: FROM requires either one or three arguments");
  }
  SECTION("bad stage name") {
    auto df = dockerfile({shell_form(1, "FROM", "busybox AS 1st")});
    auto plan = plan_build(df, {}, "");
    REQUIRE_FALSE(plan);
    CHECK(plan.error().message.rfind("line 1: invalid name for build stage: \"1st\"", 0) == 0);
  }
  SECTION("unknown flag") {
    auto df = dockerfile({shell_form(1, "FROM", "busybox", {{"pull", "always"}})});
    auto plan = plan_build(df, {}, "");
    REQUIRE_FALSE(plan);
    CHECK(plan.error().message == "line 1: unknown flag: pull");
  }
}

TEST_CASE("plan_stage_names_are_lower_case_and_unique", "[build][plan]") {
  auto df = dockerfile(
      {shell_form(1, "FROM", "busybox as Builder"), shell_form(2, "FROM", "BUILDER AS final")});
  auto plan = plan_build(df, {}, "");
  REQUIRE(plan);
  CHECK(plan->stages[0].name == "builder");
  REQUIRE(plan->stages[1].base_stage);
  CHECK(*plan->stages[1].base_stage == 0);
  CHECK(plan->order == std::vector<size_t>{0, 1});

  auto dup =
      dockerfile({shell_form(1, "FROM", "busybox AS a"), shell_form(2, "FROM", "busybox AS A")});
  auto bad = plan_build(dup, {}, "");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message == "line 2: duplicate stage name \"a\"");
}

TEST_CASE("plan_target_selects_stage_and_its_dependencies_only", "[build][plan]") {
  auto df =
      dockerfile({shell_form(1, "FROM", "busybox AS deps"),
                  shell_form(2, "FROM", "busybox AS tools"), shell_form(3, "FROM", "deps AS build"),
                  shell_form(4, "COPY", "/bin/tool /bin/", {{"from", "tools"}}),
                  shell_form(5, "FROM", "busybox AS unrelated")});
  auto plan = plan_build(df, {}, "Build");
  REQUIRE(plan);
  CHECK(plan->target == 2);
  CHECK(plan->order == std::vector<size_t>{0, 1, 2});
  CHECK(plan->stages[2].copy_from_stage.at(&df.instructions[3]) == 1);

  auto last = plan_build(df, {}, "");
  REQUIRE(last);
  CHECK(last->order == std::vector<size_t>{3});

  auto missing = plan_build(df, {}, "nope");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message == "target stage \"nope\" could not be found");
}

TEST_CASE("plan_copy_from_by_index_and_image_reference", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox"), shell_form(2, "FROM", "busybox"),
                        shell_form(3, "COPY", "/a /a", {{"from", "0"}}),
                        shell_form(4, "COPY", "/b /b", {{"from", "nginx:latest"}})});
  auto plan = plan_build(df, {}, "");
  REQUIRE(plan);
  CHECK(plan->order == std::vector<size_t>{0, 1});
  CHECK(plan->stages[1].copy_from_stage.size() == 1);
  CHECK(plan->stages[1].copy_from_stage.at(&df.instructions[2]) == 0);
}

TEST_CASE("plan_from_names_only_earlier_stages", "[build][plan]") {
  // A later stage's name in FROM is an image reference, as in BuildKit.
  auto df = dockerfile({shell_form(1, "FROM", "later"), shell_form(2, "FROM", "busybox AS later")});
  auto plan = plan_build(df, {}, "");
  REQUIRE(plan);
  CHECK_FALSE(plan->stages[0].base_stage);
}

TEST_CASE("plan_copy_from_a_later_stage_is_allowed_without_a_cycle", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox AS final"),
                        shell_form(2, "COPY", "/x /x", {{"from", "helper"}}),
                        shell_form(3, "FROM", "busybox AS helper")});
  auto plan = plan_build(df, {}, "final");
  REQUIRE(plan);
  CHECK(plan->order == std::vector<size_t>{1, 0});
}

TEST_CASE("plan_copy_from_cycles_are_errors", "[build][plan]") {
  SECTION("itself") {
    auto df = dockerfile(
        {shell_form(1, "FROM", "busybox AS a"), shell_form(2, "COPY", "/x /x", {{"from", "a"}})});
    auto plan = plan_build(df, {}, "");
    REQUIRE_FALSE(plan);
    CHECK(plan.error().message == "line 2: circular dependency detected on stage: a");
  }
  SECTION("two stages") {
    auto df = dockerfile(
        {shell_form(1, "FROM", "busybox AS a"), shell_form(2, "COPY", "/x /x", {{"from", "b"}}),
         shell_form(3, "FROM", "busybox AS b"), shell_form(4, "COPY", "/y /y", {{"from", "a"}})});
    auto plan = plan_build(df, {}, "a");
    REQUIRE_FALSE(plan);
    CHECK(plan.error().message.rfind("circular dependency detected on stage: ", 0) == 0);
  }
}

TEST_CASE("plan_copy_from_with_a_variable_is_an_error", "[build][plan]") {
  auto df = dockerfile(
      {shell_form(1, "FROM", "busybox"), shell_form(2, "COPY", "/x /x", {{"from", "$IMG"}})});
  auto plan = plan_build(df, {}, "");
  REQUIRE_FALSE(plan);
  CHECK(plan.error().message.rfind("line 2: COPY --from=$IMG: variables are not expanded", 0) == 0);
}

TEST_CASE("plan_reports_unused_build_args_sorted", "[build][plan]") {
  auto df = dockerfile({shell_form(1, "ARG", "GLOBAL"), shell_form(2, "FROM", "busybox AS a"),
                        shell_form(3, "ARG", "IN_A"), shell_form(4, "FROM", "busybox AS b"),
                        shell_form(5, "ARG", "IN_B")});
  auto plan = plan_build(df,
                         args({{"ZED", "1"},
                               {"GLOBAL", "1"},
                               {"IN_A", "1"},
                               {"IN_B", "1"},
                               {"HTTP_PROXY", "http://p"},
                               {"ALPHA", std::nullopt}}),
                         "b");
  REQUIRE(plan);
  // IN_A is declared only in a stage the target does not need; proxies are predefined.
  CHECK(plan->unused_build_args == std::vector<std::string>{"ALPHA", "IN_A", "ZED"});
}

TEST_CASE("arg_declarations_several_per_line_with_quotes", "[build][plan]") {
  auto decls = parse_arg_definitions("A B=1 C=\"two words\"", '\\');
  REQUIRE(decls);
  REQUIRE(decls->size() == 3);
  CHECK((*decls)[0].name == "A");
  CHECK_FALSE((*decls)[0].default_value);
  CHECK((*decls)[1].default_value == "1");
  CHECK((*decls)[2].default_value == "\"two words\"");
  CHECK_FALSE(parse_arg_definitions("", '\\'));
  CHECK_FALSE(parse_arg_definitions("=x", '\\'));
}

// Ordering recursed once per stage: a chain of 60 000 stages, each FROM the one before,
// overflowed the stack and `matchlock build` died with SIGSEGV.
TEST_CASE("plan_orders_a_chain_of_sixty_thousand_stages", "[build][plan]") {
  std::vector<Instruction> lines{shell_form(1, "FROM", "busybox AS s0")};
  constexpr int kStages = 60000;
  for (int i = 1; i < kStages; ++i) {
    lines.push_back(
        shell_form(i + 1, "FROM", "s" + std::to_string(i - 1) + " AS s" + std::to_string(i)));
  }
  auto plan = plan_build(dockerfile(std::move(lines)), {}, "");
  REQUIRE(plan);
  REQUIRE(plan->order.size() == kStages);
  CHECK(plan->order.front() == 0);
  CHECK(plan->order.back() == kStages - 1);
}
