#include "file_ops.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "core/unique_fd.h"
#include "fs_util.h"
#include "guest_protocol/protocol.h"

namespace matchlock::guest_agent {
namespace {

// A directory emptied more often than this in one removal is being refilled as fast as we
// empty it: give up and let rmdir report ENOTEMPTY.
constexpr int kMaxPassesPerDirectory = 64;

FileOpFailure failure(std::string action, std::string path, int error) {
  return FileOpFailure{std::move(action), std::move(path), error ? error : EIO, {}};
}

// "/a/b///" -> "/a/b"; "/" stays "/".
std::string without_trailing_slashes(const std::string& path) {
  auto end = path.find_last_not_of('/');
  return end == std::string::npos ? "/" : path.substr(0, end + 1);
}

std::string last_component(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

using DirStream = std::unique_ptr<DIR, int (*)(DIR*)>;

// One directory being emptied: its stream, its path (for messages) and its name in the parent.
struct OpenDirectory {
  DirStream dir;
  std::string path;
  std::string name;
  bool removed_in_pass = false;
  int passes = 1;
};

// Opens `name` under `parent_fd` as a directory, never through a symlink.
std::optional<OpenDirectory> open_directory(int parent_fd, const std::string& name,
                                            std::string path) {
  int fd =
      ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  DIR* dir = ::fdopendir(fd);
  if (!dir) {
    const int saved = errno;
    ::close(fd);
    errno = saved;
    return std::nullopt;
  }
  return OpenDirectory{DirStream(dir, ::closedir), std::move(path), name};
}

// Empties the directory `path` (not a symlink) depth first, with one open directory per level
// on an explicit stack (no recursion: the depth is bounded by kMaxRemoveDepth, not the agent's
// C++ stack). Entries are removed relative to their parent's descriptor, so a directory swapped
// for a symlink meanwhile is refused by O_NOFOLLOW instead of followed. Long because it is one
// loop over the three things an entry can be (end of a pass, a subdirectory, anything else).
FileOpOutcome empty_tree(const std::string& path) {
  std::vector<OpenDirectory> stack;
  auto top = open_directory(AT_FDCWD, path, path);
  if (!top) return failure("remove", path, errno);
  stack.push_back(std::move(*top));
  while (!stack.empty()) {
    OpenDirectory& current = stack.back();
    const int current_fd = ::dirfd(current.dir.get());
    errno = 0;
    dirent* entry = ::readdir(current.dir.get());
    if (!entry) {
      if (errno != 0) return failure("read directory", current.path, errno);
      // Some filesystems (FUSE among them) may skip entries of a directory that changes while
      // it is read: read it again until a pass finds nothing left to remove.
      if (current.removed_in_pass && current.passes < kMaxPassesPerDirectory) {
        current.removed_in_pass = false;
        ++current.passes;
        ::rewinddir(current.dir.get());
        continue;
      }
      OpenDirectory done = std::move(current);
      stack.pop_back();
      if (stack.empty()) return std::nullopt;  // the caller removes the top directory itself
      OpenDirectory& parent = stack.back();
      if (::unlinkat(::dirfd(parent.dir.get()), done.name.c_str(), AT_REMOVEDIR) != 0 &&
          errno != ENOENT) {
        return failure("remove", done.path, errno);
      }
      parent.removed_in_pass = true;
      continue;
    }
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    const std::string entry_path = current.path + "/" + name;
    struct stat st {};
    if (::fstatat(current_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;  // gone meanwhile
      return failure("remove", entry_path, errno);
    }
    if (S_ISDIR(st.st_mode)) {
      if (stack.size() >= guest_protocol::kMaxRemoveDepth) {
        auto f = failure("remove", entry_path, EMFILE);
        f.detail =
            "more than " + std::to_string(guest_protocol::kMaxRemoveDepth) + " nested directories";
        return f;
      }
      auto child = open_directory(current_fd, name, entry_path);
      if (!child) return failure("remove", entry_path, errno);
      stack.push_back(std::move(*child));  // `current` is invalid from here on
      continue;
    }
    if (::unlinkat(current_fd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return failure("remove", entry_path, errno);
    }
    current.removed_in_pass = true;
  }
  return std::nullopt;
}

}  // namespace

std::string FileOpFailure::message() const {
  return action + " " + path + ": " + (detail.empty() ? std::strerror(error) : detail);
}

FileOpOutcome make_directory(const std::string& requested, mode_t mode, bool parents) {
  const std::string path = without_trailing_slashes(requested);
  mode &= 07777;
  if (parents && path != "/") {
    const std::string parent = parent_of(path);
    errno = 0;
    if (!make_dirs(parent)) return failure("mkdir", parent, errno ? errno : ENOTDIR);
  }
  if (::mkdir(path.c_str(), mode) != 0) {
    const int error = errno;
    struct stat st {};
    // mkdir -p: a directory already there (or a symlink to one) is what was asked for.
    if (error == EEXIST && parents && ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return std::nullopt;
    }
    return failure("mkdir", path, error);
  }
  // The umask must not narrow the mode asked for. Through a descriptor, so a directory swapped
  // for a symlink meanwhile is refused rather than followed.
  UniqueFd dir(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir || ::fchmod(dir.get(), mode) != 0) return failure("chmod", path, errno);
  return std::nullopt;
}

FileOpOutcome remove_path(const std::string& requested, bool recursive) {
  // The entry itself: "/a/link/" removes the symlink, not what it points to.
  const std::string path = without_trailing_slashes(requested);
  if (path == "/") return failure("remove", path, EBUSY);
  const std::string name = last_component(path);
  if (name == "." || name == "..") return failure("remove", path, EINVAL);
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return failure("remove", path, errno);
  if (!S_ISDIR(st.st_mode)) {
    if (::unlink(path.c_str()) != 0) return failure("remove", path, errno);
    return std::nullopt;
  }
  if (recursive) {
    if (auto failed = empty_tree(path)) return failed;
  }
  if (::rmdir(path.c_str()) != 0) return failure("remove", path, errno);
  return std::nullopt;
}

FileOpOutcome rename_path(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return failure("rename", from + " to " + to, errno);
  return std::nullopt;
}

}  // namespace matchlock::guest_agent
