#include "core/pid_named.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdint>

#include "core/remove_tree.h"

namespace matchlock::pid_named {
namespace fs = std::filesystem;

std::string unique_name(std::string_view prefix, std::string_view suffix) {
  static std::atomic<uint64_t> counter{0};
  return std::string(prefix) + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1)) + std::string(suffix);
}

pid_t maker_of(std::string_view name, std::string_view prefix) {
  if (!name.starts_with(prefix)) return 0;
  const char* begin = name.data() + prefix.size();
  const char* end = name.data() + name.size();
  pid_t pid = 0;
  auto [p, ec] = std::from_chars(begin, end, pid);
  if (ec != std::errc() || p == end || *p != '-' || pid <= 0) return 0;
  return pid;
}

bool maker_is_running(pid_t pid) {
  return ::kill(pid, 0) == 0 || errno == EPERM;
}

int remove_dead_makers_leftovers(const fs::path& dir, std::string_view prefix,
                                 const std::function<void(const fs::path&)>& removed) {
  int failures = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    pid_t pid = maker_of(entry.path().filename().string(), prefix);
    if (pid == 0 || maker_is_running(pid)) continue;
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

}  // namespace matchlock::pid_named
