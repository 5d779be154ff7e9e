// `matchlock exec ID [flags] [--] COMMAND...`: its flags, validated before anything connects.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "core/result.h"

namespace matchlock::cli {

struct ExecOptions {
  std::string id;
  std::vector<std::string> command;
  bool interactive = false;                              // -i
  bool tty = false;                                      // -t
  std::vector<std::pair<std::string, std::string>> env;  // -e, in order, later ones winning
  std::optional<std::string> workdir;                    // -w
  std::optional<std::string> user;                       // -u
};

ArgParser exec_arg_parser();
// Flags may come before or after the sandbox id: `exec -it ID sh` and `exec ID -it sh`.
Result<ExecOptions> parse_exec_options(Args args, bool stdin_is_tty);

}  // namespace matchlock::cli
