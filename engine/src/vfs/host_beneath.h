// Confined host path primitives: every path a guest names is resolved beneath a directory fd
// with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so neither "..", an absolute or
// relative symlink pointing out, nor a directory swapped for a symlink mid-operation can reach
// a host file outside the mount: the kernel checks each resolution atomically.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/unique_fd.h"
#include "vfs/outcome.h"

namespace matchlock::vfs {

// openat2(dir, rel, flags | O_CLOEXEC, mode) confined beneath `dir`. An escape attempt (the
// kernel's EXDEV) is reported as EACCES: to the guest it is a refused access, not a
// cross-device error.
Outcome<UniqueFd> open_beneath(int dir, const std::string& rel, uint64_t flags, uint64_t mode = 0);

// A path split into its confined parent directory (an O_PATH fd) and its last component, for
// the *at() calls that act on a name without following it.
struct Located {
  UniqueFd dir;
  std::string name;
};

// "a/b/c" -> ("a/b", "c"); "c" -> (".", "c"); "" -> (".", ".").
std::pair<std::string, std::string> split_parent(std::string_view path);

Outcome<Located> locate_beneath(int root, const std::string& path);

// fstatat(dir, name, AT_SYMLINK_NOFOLLOW).
Outcome<struct stat> lstat_at(int dir, const std::string& name);

// chmod of `name` in `dir` that never follows a symlink (see the .cpp for how).
Status chmod_nofollow(int dir, const std::string& name, uint32_t mode);

inline Errno last_errno() {
  return Errno{errno};
}

}  // namespace matchlock::vfs
