#include "core/remove_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "core/unique_fd.h"

namespace matchlock {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

struct Walk {
  std::uintmax_t removed = 0;
  std::error_code first_error;

  void note(int err) {
    if (!first_error) first_error = std::error_code(err, std::generic_category());
  }

  // Removes what can be removed in the directory `dir` right away (files, symlinks, empty
  // directories) and returns the names of the subdirectories that still hold something.
  std::vector<std::string> sweep(int dir) {
    std::vector<std::string> full;
    UniqueFd listing(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
    DIR* d = listing.valid() ? ::fdopendir(listing.get()) : nullptr;
    if (!d) {
      note(errno);
      return full;
    }
    (void)listing.release();  // the DIR owns it now
    while (const dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      bool is_dir = e->d_type == DT_DIR;
      if (e->d_type == DT_UNKNOWN) {
        struct stat st {};
        is_dir = ::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
      }
      if (!is_dir) {
        if (::unlinkat(dir, name.c_str(), 0) == 0) {
          ++removed;
        } else if (errno != ENOENT) {
          note(errno);
        }
      } else if (::unlinkat(dir, name.c_str(), AT_REMOVEDIR) == 0) {
        ++removed;
      } else if (errno == ENOTEMPTY || errno == EEXIST) {
        full.push_back(name);
      } else if (errno != ENOENT) {
        note(errno);
      }
    }
    ::closedir(d);
    return full;
  }
};

}  // namespace

std::uintmax_t remove_tree(const std::filesystem::path& path, std::error_code& ec) noexcept {
  ec.clear();
  UniqueFd dir(::open(path.c_str(), kDirFlags));
  if (!dir.valid()) {
    // Not a directory (or a symlink to one): a single entry.
    if (errno == ENOENT) return 0;
    if (errno != ENOTDIR && errno != ELOOP) {
      ec = std::error_code(errno, std::generic_category());
      return 0;
    }
    if (::unlink(path.c_str()) != 0) {
      if (errno == ENOENT) return 0;
      ec = std::error_code(errno, std::generic_category());
      return 0;
    }
    return 1;
  }
  try {
    Walk walk;
    // One frame per level being emptied: the subdirectories still to visit there.
    struct Frame {
      std::vector<std::string> full;
      size_t next = 0;
    };
    std::vector<Frame> stack;
    stack.push_back({walk.sweep(dir.get())});
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next < top.full.size()) {
        const std::string& name = top.full[top.next++];
        UniqueFd child(::openat(dir.get(), name.c_str(), kDirFlags));
        if (!child.valid()) {
          walk.note(errno);
          continue;
        }
        dir = std::move(child);
        stack.push_back({walk.sweep(dir.get())});  // `top` is invalid from here
        continue;
      }
      stack.pop_back();
      if (stack.empty()) break;
      // Back up one level: the directory just emptied is removed from its parent.
      UniqueFd parent(::openat(dir.get(), "..", kDirFlags));
      if (!parent.valid()) {
        walk.note(errno);
        break;
      }
      dir = std::move(parent);
      const Frame& up = stack.back();
      if (::unlinkat(dir.get(), up.full[up.next - 1].c_str(), AT_REMOVEDIR) == 0) {
        ++walk.removed;
      } else {
        walk.note(errno);
      }
    }
    dir.reset();
    if (!walk.first_error) {
      if (::rmdir(path.c_str()) == 0) {
        ++walk.removed;
      } else {
        walk.note(errno);
      }
    }
    ec = walk.first_error;
    return walk.removed;
  } catch (const std::bad_alloc&) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return 0;
  }
}

}  // namespace matchlock
