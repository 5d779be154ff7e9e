// The Dockerfile front end (engine/src/dockerbuild): parsing (dockerfile_parser.cpp), the stage
// plan (build_plan.cpp) and each stage's evaluation with variable expansion (build_steps.cpp,
// word_expansion.cpp, shell_pattern.cpp). A Dockerfile comes from the user's build context,
// which may be someone else's repository.
// Invariants: instructions come in line order within the text, with an upper-case keyword; the
// plan's order ends with its target and names only existing stages; every stage evaluates to
// one step per instruction or to an error naming a line.
#include <string>

#include "dockerbuild/build_plan.h"
#include "dockerbuild/build_steps.h"
#include "dockerbuild/dockerfile.h"
#include "fuzz_check.h"

namespace db = matchlock::dockerbuild;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = matchlock::fuzz::as_text(data, size);
  auto dockerfile = db::parse_dockerfile(text);
  if (!dockerfile.ok()) {
    FUZZ_CHECK(!dockerfile.error().message.empty());
    return 0;
  }
  int last_line = 0;
  size_t lines = 1;
  for (char c : text) lines += c == '\n';
  for (const auto& ins : dockerfile->instructions) {
    FUZZ_CHECK(ins.line > last_line && static_cast<size_t>(ins.line) <= lines);
    last_line = ins.line;
    FUZZ_CHECK(!ins.keyword.empty());
    for (char c : ins.keyword) FUZZ_CHECK(c >= 'A' && c <= 'Z');
    (void)db::parse_json_string_array(ins.rest);
  }

  db::BuildArgs args;
  args.values["VERSION"] = "1.2";
  auto plan = db::plan_build(*dockerfile, args, "");
  if (!plan.ok()) return 0;
  FUZZ_CHECK(!plan->order.empty() && plan->order.back() == plan->target);
  for (size_t stage : plan->order) {
    FUZZ_CHECK(stage < plan->stages.size());
    db::StageEvaluator evaluator(*plan, stage, db::ImageSettings{}, args);
    auto steps = evaluator.evaluate();
    if (steps.ok()) FUZZ_CHECK(steps->size() == plan->stages[stage].body.size());
  }
  return 0;
}
