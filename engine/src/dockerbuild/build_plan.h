// The shape of a build before anything runs: which stages a Dockerfile has, what each is based on,
// which of them the --target needs and in what order, and the global ARGs (those before the first
// FROM) that FROM lines may use. What each instruction inside a stage does is build_steps.h.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/value_parsers.h"
#include "dockerbuild/dockerfile.h"

namespace matchlock::dockerbuild {

// --build-arg values. A value of nullopt is a NAME given alone that the process environment does
// not have: it overrides nothing (the ARG's default stays) but still counts as given, so an
// unused one is reported like any other.
struct BuildArgs {
  std::map<std::string, std::optional<std::string>> values;
};

// One --build-arg: "NAME=VALUE" (VALUE may be empty or hold '='), or "NAME" whose value comes
// from host_env when set there. Errors: "--build-arg: expected NAME[=VALUE], got '=x'".
Result<std::pair<std::string, std::optional<std::string>>> parse_build_arg(
    std::string_view flag_value, const EnvLookup& host_env);
// Every --build-arg in order; a later one for the same NAME wins.
Result<BuildArgs> parse_build_args(const std::vector<std::string>& flag_values,
                                   const EnvLookup& host_env);

// HTTP_PROXY, https_proxy, NO_PROXY, ... : usable by RUN without an ARG, kept out of the cache
// key and the history (docker's predefined ARGs).
bool is_predefined_proxy_arg(std::string_view name);

struct Stage {
  size_t index = 0;
  std::string name;  // `AS name`, lower case; "" when unnamed
  std::string base;  // FROM's image word after expansion with the global ARGs: an image
                     // reference, "scratch", or the name of an earlier stage (see base_stage)
  std::optional<size_t> base_stage;
  std::string platform;                  // FROM --platform=..., expanded; "" when not given
  int line = 0;                          // the FROM line
  std::vector<const Instruction*> body;  // the instructions after FROM (point into the Dockerfile)
  // COPY --from values naming a stage (by name or index), resolved; any other --from value is an
  // image reference. Keyed by the COPY instruction.
  std::map<const Instruction*, size_t> copy_from_stage;

  // "builder" or, for an unnamed stage, its index ("0"): how errors and progress name it.
  std::string display_name() const { return name.empty() ? std::to_string(index) : name; }
};

struct BuildPlan {
  std::vector<Stage> stages;  // every stage of the Dockerfile, in order
  size_t target = 0;          // --target, or the last stage
  std::vector<size_t> order;  // the stages the target needs, dependencies first, target last
  char escape = '\\';         // the Dockerfile's escape character, for expanding words
  // Global ARGs with a value (after --build-arg overrides), plus the automatic platform ARGs
  // (BUILDPLATFORM, TARGETARCH, ...). A stage's `ARG NAME` without a default picks these up.
  std::map<std::string, std::string> global_args;
  // --build-arg NAMEs no ARG consumed (in the global scope or a stage of `order`), sorted;
  // the caller warns about them as docker does.
  std::vector<std::string> unused_build_args;
};

// Stages, dependencies and global ARGs of `dockerfile` (which must outlive the plan: stages point
// into it). `target` is a stage name ("" = the last stage). Errors name the line: "line 3: ...".
Result<BuildPlan> plan_build(const Dockerfile& dockerfile, const BuildArgs& build_args,
                             const std::string& target);

}  // namespace matchlock::dockerbuild
