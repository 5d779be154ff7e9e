// `matchlock run`: its flags, and their validation into SandboxOptions before anything is
// created (bad input must leave no process, directory or state row behind).
#pragma once

#include <string>
#include <vector>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "core/result.h"
#include "sandbox/sandbox_options.h"

namespace matchlock::cli {

struct RunOptions {
  sandbox::SandboxOptions sandbox;
  std::vector<std::string> command;  // words after the flags (may be empty: image CMD)
  bool interactive = false;          // -i
  bool tty = false;                  // -t
  bool remove = true;                // --rm
  bool detach = false;               // -d: a detached owner keeps the sandbox until killed
  uint64_t timeout_seconds = 0;      // 0 = none
  uint64_t graceful_shutdown_ms = 0;
  bool pull = false;   // --pull: fetch a fresh copy before booting
  bool quiet = false;  // --quiet: no pull progress

  // The sandbox outlives its command (served on its control socket until killed).
  bool keep_running() const { return detach || !remove; }
};

ArgParser run_arg_parser();
// Parses and validates every flag; the error names the flag.
Result<RunOptions> parse_run_options(Args args, bool stdin_is_tty);

}  // namespace matchlock::cli
