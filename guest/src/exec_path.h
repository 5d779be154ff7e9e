// Finding the file to exec for a command name: the PATH walk and the agent-side pre-check that
// spares the child one failed execve per PATH entry that does not hold the program.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace matchlock::guest_agent {

// execvpe's list of paths to try for `program`, in order: `program` itself when it contains a
// '/', else each entry of `path` (a PATH value) joined with it, an empty entry meaning ".".
std::vector<std::string> exec_candidates(const std::string& program, std::string_view path);

// Whether execve of a candidate can possibly succeed, as far as the agent can tell.
enum class ExecProbe {
  kMaybe,     // it may run (or fail in a way the child must report): the child tries it
  kHopeless,  // execve would fail with an error the PATH walk skips, for any user
};

// A stat-based probe, in the agent's view: kHopeless when the path does not resolve (ENOENT,
// ENOTDIR, ELOOP, ENAMETOOLONG) or names something that is not a regular file with an execute
// bit (execve: EACCES). Relative paths are kMaybe: the child resolves them after its chdir.
ExecProbe probe_exec_candidate(const std::string& path);

// The candidates worth an execve, in order. Empty when none is: the child then walks the full
// list, as before, so that the error it reports stays exactly the same.
std::vector<std::string> likely_candidates(
    const std::vector<std::string>& candidates,
    const std::function<ExecProbe(const std::string&)>& probe = probe_exec_candidate);

}  // namespace matchlock::guest_agent
