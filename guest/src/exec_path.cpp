#include "exec_path.h"

#include <sys/stat.h>

#include <cerrno>

namespace matchlock::guest_agent {

std::vector<std::string> exec_candidates(const std::string& program, std::string_view path) {
  if (program.empty()) return {};
  if (program.find('/') != std::string::npos) return {program};
  std::vector<std::string> candidates;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find(':', start);
    if (end == std::string_view::npos) end = path.size();
    std::string dir(path.substr(start, end - start));
    candidates.push_back((dir.empty() ? "." : dir) + "/" + program);
    start = end + 1;
  }
  return candidates;
}

ExecProbe probe_exec_candidate(const std::string& path) {
  // The agent's cwd is not the child's, which changes directory before it execs.
  if (path.empty() || path.front() != '/') return ExecProbe::kMaybe;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    // The errors the PATH walk skips over; anything else the child must meet and report.
    bool skipped = errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == ENAMETOOLONG;
    return skipped ? ExecProbe::kHopeless : ExecProbe::kMaybe;
  }
  // No user may execve a directory or a file without any execute bit (EACCES, also for root).
  bool runnable = S_ISREG(st.st_mode) && (st.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH)) != 0;
  return runnable ? ExecProbe::kMaybe : ExecProbe::kHopeless;
}

std::vector<std::string> likely_candidates(
    const std::vector<std::string>& candidates,
    const std::function<ExecProbe(const std::string&)>& probe) {
  std::vector<std::string> likely;
  for (const auto& candidate : candidates) {
    if (probe(candidate) == ExecProbe::kMaybe) likely.push_back(candidate);
  }
  return likely;
}

}  // namespace matchlock::guest_agent
