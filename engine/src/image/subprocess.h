// Runs a helper tool (mkfs.ext4, debugfs) with posix_spawn: no shell, stdin/stdout on /dev/null,
// stderr captured (bounded) for error messages.
#pragma once

#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::image {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal
  std::string stderr_text;
};

// Finds `name` on $PATH, then in /usr/sbin and /sbin (often missing from a user's PATH).
Result<std::string> find_program(const std::string& name);
Result<ProcessResult> run_process(const std::vector<std::string>& argv);

}  // namespace matchlock::image
