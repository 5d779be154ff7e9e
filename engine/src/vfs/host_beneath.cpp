#include "vfs/host_beneath.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace matchlock::vfs {

namespace {

#ifndef SYS_fchmodat2
constexpr long kSysFchmodat2 = 452;  // same number on every architecture (Linux 6.6+)
#else
constexpr long kSysFchmodat2 = SYS_fchmodat2;
#endif

}  // namespace

Outcome<UniqueFd> open_beneath(int dir, const std::string& rel, uint64_t flags, uint64_t mode) {
  open_how how{};
  how.flags = flags | O_CLOEXEC;
  // The kernel rejects a mode without O_CREAT/O_TMPFILE.
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const char* p = rel.empty() ? "." : rel.c_str();
  for (;;) {
    long fd = ::syscall(SYS_openat2, dir, p, &how, sizeof(how));
    if (fd >= 0) return UniqueFd(static_cast<int>(fd));
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == EXDEV) return Errno{EACCES};
    return last_errno();
  }
}

std::pair<std::string, std::string> split_parent(std::string_view path) {
  if (path.empty()) return {".", "."};
  auto slash = path.rfind('/');
  if (slash == std::string_view::npos) return {".", std::string(path)};
  return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

Outcome<Located> locate_beneath(int root, const std::string& path) {
  auto [parent, name] = split_parent(path);
  // The *at() calls resolve the last name themselves, outside openat2's checks: ".." there
  // would reach the root's parent.
  if (!path.empty()) {
    if (name == "..") return Errno{EACCES};
    if (name.empty() || name == ".") return Errno{EINVAL};
  }
  auto dir = open_beneath(root, parent, O_PATH | O_DIRECTORY);
  if (!dir) return Errno{dir.error()};
  return Located{std::move(dir.value()), std::move(name)};
}

Outcome<struct stat> lstat_at(int dir, const std::string& name) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return last_errno();
  return st;
}

// fchmodat2(AT_SYMLINK_NOFOLLOW) changes the node itself atomically and refuses a symlink
// (EOPNOTSUPP, what Linux does for chmod of a symlink anyway). Linux before 6.6 lacks it (ENOSYS):
// there the node is checked with fstatat(AT_SYMLINK_NOFOLLOW) and then chmod'ed with
// fchmodat(flags 0). That leaves a window in which a symlink swapped in by another host process
// would be followed; the guest cannot use it (providers run one call at a time on the loop).
// The alternatives are worse: an O_PATH fd cannot be fchmod'ed without a /proc magic link, and
// reopening the node for reading fails on a mode-000 file its owner may still chmod.
Status chmod_nofollow(int dir, const std::string& name, uint32_t mode) {
  if (::syscall(kSysFchmodat2, dir, name.c_str(), mode, AT_SYMLINK_NOFOLLOW) == 0) {
    return ok_status();
  }
  if (errno != ENOSYS) return last_errno();
  auto st = lstat_at(dir, name);
  if (!st) return Errno{st.error()};
  if (S_ISLNK(st->st_mode)) return Errno{EOPNOTSUPP};
  if (::fchmodat(dir, name.c_str(), mode, 0) != 0) return last_errno();
  return ok_status();
}

}  // namespace matchlock::vfs
