// Stage planning as BuildKit's Dockerfile frontend does it: global ARGs (before the first FROM)
// are expanded in order and may be overridden by --build-arg; FROM lines see only those; stages
// depend on their FROM stage and on COPY --from stages; the target's dependencies are built first.
#include "dockerbuild/build_plan.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <unordered_map>

#include "core/ascii.h"
#include "dockerbuild/word_expansion.h"

namespace matchlock::dockerbuild {
namespace {

constexpr std::array<std::string_view, 10> kProxyArgs = {
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
    "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};

Error line_error(int line, const std::string& message) {
  return invalid_argument("line " + std::to_string(line) + ": " + message);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

// The guest runs the host's architecture, so build and target platform are the host's.
std::string host_arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#else
  return "unknown";
#endif
}

// BuildKit's automatic platform ARGs, in the global scope of every build.
std::map<std::string, std::string> automatic_platform_args() {
  std::string arch = host_arch();
  std::map<std::string, std::string> args;
  for (const char* prefix : {"BUILD", "TARGET"}) {
    std::string p(prefix);
    args[p + "PLATFORM"] = "linux/" + arch;
    args[p + "OS"] = "linux";
    args[p + "ARCH"] = arch;
    args[p + "VARIANT"] = "";
  }
  return args;
}

// Splits on ASCII whitespace (FROM's words are plain: `image [AS name]`).
std::vector<std::string> split_whitespace(std::string_view s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

// Docker's rule for `AS name`: a letter, then letters, digits, '-', '_' or '.'.
bool valid_stage_name(std::string_view name) {
  if (name.empty() || name[0] < 'a' || name[0] > 'z') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

class Planner {
 public:
  Planner(const Dockerfile& df, const BuildArgs& build_args)
      : df_(df), build_args_(build_args), globals_(automatic_platform_args()) {
    plan_.escape = df.escape;
  }

  Result<BuildPlan> run(const std::string& target) {
    for (const Instruction& ins : df_.instructions) {
      if (ins.keyword == "FROM") {
        MATCHLOCK_TRY(add_stage(ins));
      } else if (plan_.stages.empty()) {
        if (ins.keyword != "ARG") return line_error(ins.line, "no build stage in current context");
        MATCHLOCK_TRY(add_global_args(ins));
      } else {
        plan_.stages.back().body.push_back(&ins);
        if (ins.keyword == "ARG") MATCHLOCK_TRY(note_stage_args(ins));
      }
    }
    if (plan_.stages.empty()) return invalid_argument("the Dockerfile has no FROM instruction");
    MATCHLOCK_TRY(choose_target(target));
    for (Stage& stage : plan_.stages) MATCHLOCK_TRY(resolve_copy_from(stage));
    MATCHLOCK_TRY(order_stages());
    plan_.global_args = globals_;
    report_unused_args();
    return std::move(plan_);
  }

 private:
  std::optional<std::string> global(std::string_view name) const {
    auto it = globals_.find(std::string(name));
    if (it == globals_.end()) return std::nullopt;
    return it->second;
  }

  Status add_global_args(const Instruction& ins) {
    auto decls = parse_arg_definitions(ins.rest, df_.escape);
    if (!decls) return line_error(ins.line, decls.error().message);
    for (auto& [name, default_value] : *decls) {
      declared_.insert(name);
      auto given = build_args_.values.find(name);
      if (given != build_args_.values.end() && given->second) {
        globals_[name] = *given->second;
      } else if (default_value) {
        auto v = expand_word(
            *default_value, [this](std::string_view n) { return global(n); }, df_.escape);
        if (!v) return line_error(ins.line, v.error().message);
        globals_[name] = *v;
      } else {
        globals_.erase(name);  // declared without a value: stages see it unset
      }
    }
    return {};
  }

  // Stage ARGs only matter here for reporting unused --build-args; their values are
  // build_steps' business. Recorded per stage since only the stages built count.
  Status note_stage_args(const Instruction& ins) {
    auto decls = parse_arg_definitions(ins.rest, df_.escape);
    if (!decls) return line_error(ins.line, decls.error().message);
    for (auto& decl : *decls) stage_declared_[plan_.stages.size() - 1].insert(decl.name);
    return {};
  }

  Status add_stage(const Instruction& ins) {
    for (const auto& [flag, value] : ins.flags) {
      if (flag != "platform") return line_error(ins.line, "unknown flag: " + flag);
    }
    Stage stage;
    stage.index = plan_.stages.size();
    stage.line = ins.line;
    auto lookup = [this](std::string_view n) { return global(n); };
    for (const auto& [flag, value] : ins.flags) {
      auto v = expand_word(value, lookup, df_.escape);
      if (!v) return line_error(ins.line, v.error().message);
      stage.platform = *v;
    }
    std::vector<std::string> words = split_whitespace(ins.rest);
    if (words.size() == 3 && equals_ignoring_ascii_case(words[1], "AS")) {
      stage.name = lower(words[2]);
      if (!valid_stage_name(stage.name)) {
        return line_error(ins.line, "invalid name for build stage: \"" + words[2] +
                                        "\", name can't start with a number or contain symbols");
      }
      if (stage_by_name_.count(stage.name)) {
        return line_error(ins.line, "duplicate stage name \"" + stage.name + "\"");
      }
    } else if (words.size() != 1) {
      return line_error(ins.line, "FROM requires either one or three arguments");
    }
    auto base = expand_word(words[0], lookup, df_.escape);
    if (!base) return line_error(ins.line, base.error().message);
    if (base->empty()) {
      return line_error(ins.line, "base name (" + words[0] + ") should not be blank");
    }
    stage.base = *base;
    // Only earlier stages: a later stage's name in FROM is an image reference, as in BuildKit.
    if (auto earlier = stage_by_name_.find(lower(stage.base)); earlier != stage_by_name_.end()) {
      stage.base_stage = earlier->second;
    }
    if (!stage.name.empty()) stage_by_name_.emplace(stage.name, stage.index);
    plan_.stages.push_back(std::move(stage));
    return {};
  }

  Status choose_target(const std::string& target) {
    if (target.empty()) {
      plan_.target = plan_.stages.size() - 1;
      return {};
    }
    if (auto named = stage_by_name_.find(lower(target)); named != stage_by_name_.end()) {
      plan_.target = named->second;
      return {};
    }
    return invalid_argument("target stage \"" + target + "\" could not be found");
  }

  // COPY --from=NAME|INDEX|IMAGE. The value is never expanded: BuildKit fixes the stage graph
  // before any stage ARG has a value (a global ARG reaches --from through `FROM $X AS name`).
  Status resolve_copy_from(Stage& stage) {
    for (const Instruction* ins : stage.body) {
      if (ins->keyword != "COPY") continue;
      for (const auto& [flag, value] : ins->flags) {
        if (flag != "from") continue;
        if (value.find('$') != std::string::npos) {
          return line_error(ins->line, "COPY --from=" + value +
                                           ": variables are not expanded in --from; name a "
                                           "stage `FROM " +
                                           value + " AS name` instead");
        }
        std::optional<size_t> from = stage_named(value);
        if (!from) continue;  // an image reference
        if (*from == stage.index) {
          return line_error(ins->line,
                            "circular dependency detected on stage: " + stage.display_name());
        }
        stage.copy_from_stage[ins] = *from;
      }
    }
    return {};
  }

  std::optional<size_t> stage_named(const std::string& value) const {
    if (!value.empty() &&
        std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      if (value.size() > 9) return std::nullopt;
      size_t index = std::stoul(value);
      if (index < plan_.stages.size()) return index;
      return std::nullopt;
    }
    auto named = stage_by_name_.find(lower(value));
    if (named != stage_by_name_.end()) return named->second;
    return std::nullopt;
  }

  std::vector<size_t> dependencies(const Stage& stage) const {
    std::vector<size_t> deps;
    if (stage.base_stage) deps.push_back(*stage.base_stage);
    for (const Instruction* ins : stage.body) {  // in the order the COPYs appear
      auto it = stage.copy_from_stage.find(ins);
      if (it != stage.copy_from_stage.end() &&
          std::find(deps.begin(), deps.end(), it->second) == deps.end()) {
        deps.push_back(it->second);
      }
    }
    return deps;
  }

  // Depth-first from the target, dependencies first. A COPY --from may name a later stage
  // (BuildKit allows it) as long as no stage ends up needing itself. The walk keeps its own
  // stack: a chain of 60 000 stages (each FROM the one before) overflowed the call stack.
  Status order_stages() {
    enum class Mark { kNone, kVisiting, kDone };
    std::vector<Mark> marks(plan_.stages.size(), Mark::kNone);
    struct Frame {
      size_t stage;
      std::vector<size_t> deps;
      size_t next = 0;  // the dependency to visit next
    };
    std::vector<Frame> stack;
    stack.push_back({plan_.target, dependencies(plan_.stages[plan_.target])});
    marks[plan_.target] = Mark::kVisiting;
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next == top.deps.size()) {
        marks[top.stage] = Mark::kDone;
        plan_.order.push_back(top.stage);
        stack.pop_back();
        continue;
      }
      const size_t dep = top.deps[top.next++];
      if (marks[dep] == Mark::kDone) continue;
      if (marks[dep] == Mark::kVisiting) {
        return invalid_argument("circular dependency detected on stage: " +
                                plan_.stages[dep].display_name());
      }
      marks[dep] = Mark::kVisiting;
      stack.push_back({dep, dependencies(plan_.stages[dep])});  // `top` is invalid from here
    }
    return {};
  }

  void report_unused_args() {
    std::set<std::string> consumed = declared_;
    for (size_t i : plan_.order) {
      auto it = stage_declared_.find(i);
      if (it != stage_declared_.end()) consumed.insert(it->second.begin(), it->second.end());
    }
    for (const auto& [name, value] : build_args_.values) {
      if (consumed.count(name) || is_predefined_proxy_arg(name)) continue;
      plan_.unused_build_args.push_back(name);
    }
  }

  const Dockerfile& df_;
  const BuildArgs& build_args_;
  BuildPlan plan_;
  std::unordered_map<std::string, size_t> stage_by_name_;  // named stages (names are unique)
  std::map<std::string, std::string> globals_;
  std::set<std::string> declared_;                          // global ARG names
  std::map<size_t, std::set<std::string>> stage_declared_;  // stage index -> ARG names
};

}  // namespace

bool is_predefined_proxy_arg(std::string_view name) {
  return std::find(kProxyArgs.begin(), kProxyArgs.end(), name) != kProxyArgs.end();
}

Result<std::pair<std::string, std::optional<std::string>>> parse_build_arg(
    std::string_view flag_value, const EnvLookup& host_env) {
  size_t eq = flag_value.find('=');
  std::string name(flag_value.substr(0, eq));
  if (name.empty() || std::any_of(name.begin(), name.end(), [](char c) {
        return std::isspace(static_cast<unsigned char>(c)) != 0;
      })) {
    return invalid_argument("--build-arg: expected NAME[=VALUE], got '" + std::string(flag_value) +
                            "'");
  }
  if (eq != std::string_view::npos) {
    return std::pair{name, std::optional<std::string>(std::string(flag_value.substr(eq + 1)))};
  }
  return std::pair{name, host_env ? host_env(name) : std::nullopt};
}

Result<BuildArgs> parse_build_args(const std::vector<std::string>& flag_values,
                                   const EnvLookup& host_env) {
  BuildArgs args;
  for (const std::string& v : flag_values) {
    auto parsed = parse_build_arg(v, host_env);
    if (!parsed) return parsed.error();
    args.values[parsed->first] = std::move(parsed->second);
  }
  return args;
}

Result<BuildPlan> plan_build(const Dockerfile& dockerfile, const BuildArgs& build_args,
                             const std::string& target) {
  return Planner(dockerfile, build_args).run(target);
}

}  // namespace matchlock::dockerbuild
