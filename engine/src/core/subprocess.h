// Runs a helper program (mkfs.ext4, debugfs, qemu --version, apt-get) to completion with
// posix_spawn: no shell, stdin on /dev/null, one output stream captured (bounded) and the other
// discarded. Blocking: call it from the thread pool or from commands that own no loop.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock {

enum class CaptureStream { kStderr, kStdout };

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal
  std::string output;  // the captured stream, at most 64 KiB
};

// Finds `name` on $PATH, then in /usr/sbin and /sbin (often missing from a user's PATH).
Result<std::string> find_program(const std::string& name);

// argv[0] must be a path (see find_program).
Result<ProcessResult> run_process(const std::vector<std::string>& argv,
                                  CaptureStream capture = CaptureStream::kStderr);

// Runs `tool` from find_program and fails unless it exits 0; the error names the tool, its exit
// status and the last line it printed on stderr.
Status run_tool(const std::string& tool, std::vector<std::string> args);

// The last non-empty line of `text` (for error messages from a tool's stderr).
std::string last_line(std::string_view text);

}  // namespace matchlock
