#include "cli/exec_options.h"

#include "core/value_parsers.h"

namespace matchlock::cli {

ArgParser exec_arg_parser() {
  ArgParser p("matchlock exec [flags] ID [--] COMMAND [ARG...]",
              "Run a command in a running sandbox. The exit code is the command's.");
  p.add_bool("interactive", 'i', "keep stdin open and stream it to the command")
      .add_bool("tty", 't', "allocate a terminal for the command")
      .add_repeated("env", 'e', "KEY=VALUE",
                    "set an environment variable (KEY alone: from the host)")
      .add_value("workdir", 'w', "DIR", "working directory (default: the sandbox's)")
      .add_value("user", 'u', "USER", "user: name, uid, uid:gid or name:group");
  return p;
}

Result<ExecOptions> parse_exec_options(Args args, bool stdin_is_tty) {
  auto parser = exec_arg_parser();
  ExecOptions o;
  Result<ParsedArgs> parsed = ParsedArgs{};
  if (!args.empty() && !args[0].empty() && args[0][0] != '-') {
    // exec ID [flags] [--] COMMAND...
    o.id = args[0];
    parsed = parser.parse(args.subspan(1));
    if (!parsed.ok()) return parsed.error();
    o.command = parsed->positionals;
  } else {
    // exec [flags] ID [--] COMMAND...
    parsed = parser.parse(args);
    if (!parsed.ok()) return parsed.error();
    if (parsed->positionals.empty()) return invalid_argument("a sandbox id is required");
    o.id = parsed->positionals.front();
    o.command.assign(parsed->positionals.begin() + 1, parsed->positionals.end());
    // `exec -it ID -- CMD`: the parser stopped at ID, so the "--" is still among the words.
    if (!parsed->saw_double_dash && !o.command.empty() && o.command.front() == "--") {
      o.command.erase(o.command.begin());
    }
  }
  const ParsedArgs& a = parsed.value();
  if (o.id.empty()) return invalid_argument("a sandbox id is required");
  if (o.command.empty()) return invalid_argument("a command is required");
  o.interactive = a.flag("interactive");
  o.tty = a.flag("tty");
  if (o.interactive && o.tty && !stdin_is_tty) {
    return invalid_argument("-it needs stdin to be a terminal (use -i alone for pipes)");
  }
  for (const auto& e : a.values("env")) {
    auto v = parse_env_assignment(e, host_env_lookup);
    if (!v.ok()) return v.error().with_context("-e");
    upsert_env(o.env, std::move(*v));
  }
  if (auto w = a.value("workdir")) {
    MATCHLOCK_TRY(validate_absolute_guest_path(*w, "--workdir"));
    o.workdir = *w;
  }
  if (auto u = a.value("user")) {
    MATCHLOCK_TRY(validate_user_spec(*u));
    o.user = *u;
  }
  return o;
}

}  // namespace matchlock::cli
