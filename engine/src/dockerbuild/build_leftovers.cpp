#include "dockerbuild/build_leftovers.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "core/paths.h"
#include "core/remove_tree.h"

namespace matchlock::dockerbuild {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kPrefix = "build-";

// The pid in "build-<pid>-XXXXXX", or 0 if the name is not one of ours.
pid_t owner_of(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0) return 0;
  const char* begin = name.data() + kPrefix.size();
  const char* end = name.data() + name.size();
  pid_t pid = 0;
  auto [p, ec] = std::from_chars(begin, end, pid);
  if (ec != std::errc() || p == end || *p != '-' || pid <= 0) return 0;
  return pid;
}

bool running(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

}  // namespace

std::string scratch_prefix() {
  return std::string(kPrefix) + std::to_string(::getpid()) + "-";
}

fs::path scratch_root() {
  return matchlock_home() / "cache" / "build" / "tmp";
}

int remove_dead_build_scratch(const fs::path& root,
                              const std::function<void(const fs::path&)>& removed) {
  int failures = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (!entry.is_directory(ec)) continue;
    pid_t pid = owner_of(entry.path().filename().string());
    if (pid == 0 || running(pid)) continue;
    std::error_code rm;
    remove_tree(entry.path(), rm);
    if (rm) {
      ++failures;
    } else if (removed) {
      removed(entry.path());
    }
  }
  return failures;
}

}  // namespace matchlock::dockerbuild
