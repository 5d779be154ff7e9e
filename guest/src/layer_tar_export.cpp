#include "layer_tar_export.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <utility>
#include <vector>

#include "core/unique_fd.h"
#include "tar_format.h"

namespace matchlock::guest_agent {
namespace {

constexpr size_t kOutputBuffer = 64 * 1024;
// Directory nesting we follow (each level holds one descriptor).
constexpr int kMaxDepth = 512;
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

Error fs_error(const std::string& what, const std::string& path, int error) {
  return io_error(what + " " + (path.empty() ? "." : path) + ": " + std::strerror(error));
}

// Buffered, complete writes to a blocking fd.
class TarOutput {
 public:
  explicit TarOutput(int fd) : fd_(fd) {}
  Status write(std::string_view bytes) {
    buffer_.append(bytes);
    return buffer_.size() >= kOutputBuffer ? flush() : Status();
  }
  Status flush() {
    size_t done = 0;
    while (done < buffer_.size()) {
      ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return io_error(std::string("write tar: ") + std::strerror(errno));
      done += static_cast<size_t>(n);
    }
    buffer_.clear();
    return {};
  }

 private:
  int fd_;
  std::string buffer_;
};

// xattr calls have no *at() form: name the entry through its parent's descriptor, so the
// parent can never be swapped for a symlink; the final component is not followed (l*xattr).
std::string entry_path(int dir_fd, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
}

Result<std::map<std::string, std::string>> read_xattrs(const std::string& path) {
  std::map<std::string, std::string> out;
  ssize_t size = ::llistxattr(path.c_str(), nullptr, 0);
  if (size < 0) {
    if (errno == ENOTSUP) return out;
    return io_error("list xattrs: " + std::string(std::strerror(errno)));
  }
  std::string names(static_cast<size_t>(size), '\0');
  size = ::llistxattr(path.c_str(), names.data(), names.size());
  if (size < 0) return io_error("list xattrs: " + std::string(std::strerror(errno)));
  names.resize(static_cast<size_t>(size));
  for (size_t pos = 0; pos < names.size();) {
    std::string name = names.c_str() + pos;
    pos += name.size() + 1;
    if (name.empty() || name.rfind(kOverlayXattrPrefix, 0) == 0) continue;
    ssize_t length = ::lgetxattr(path.c_str(), name.c_str(), nullptr, 0);
    if (length < 0) continue;  // removed meanwhile
    std::string value(static_cast<size_t>(length), '\0');
    length = ::lgetxattr(path.c_str(), name.c_str(), value.data(), value.size());
    if (length < 0) continue;
    value.resize(static_cast<size_t>(length));
    out.emplace(std::move(name), std::move(value));
  }
  return out;
}

bool is_opaque(const std::string& path) {
  char value[4];
  ssize_t n = ::lgetxattr(path.c_str(), "trusted.overlay.opaque", value, sizeof value);
  return n == 1 && value[0] == 'y';
}

bool is_whiteout(const struct stat& st) {
  return S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

struct Child {
  std::string name;      // on disk
  std::string tar_name;  // name in the tar (".wh.NAME" for a whiteout)
  struct stat st {};
};

class LayerExporter {
 public:
  explicit LayerExporter(int out_fd) : out_(out_fd) {}

  Status export_tree(int root_fd) {
    MATCHLOCK_TRY(export_directory(root_fd, "", 0));
    MATCHLOCK_TRY(out_.write(std::string(2 * tar::kBlockSize, '\0')));
    return out_.flush();
  }

 private:
  Result<std::vector<Child>> list_children(int dir_fd, const std::string& prefix) {
    UniqueFd dup(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 3));
    if (!dup) return fs_error("open", prefix, errno);
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::fdopendir(dup.get()), ::closedir);
    if (!dir) return fs_error("open", prefix, errno);
    dup.release();  // owned by `dir` now
    std::vector<Child> children;
    errno = 0;
    while (dirent* entry = ::readdir(dir.get())) {
      std::string name = entry->d_name;
      if (name == "." || name == "..") continue;
      Child child;
      if (::fstatat(dir_fd, name.c_str(), &child.st, AT_SYMLINK_NOFOLLOW) != 0) {
        return fs_error("stat", prefix + name, errno);
      }
      child.tar_name = is_whiteout(child.st) ? std::string(tar::kWhiteoutPrefix) + name : name;
      child.name = std::move(name);
      children.push_back(std::move(child));
      errno = 0;
    }
    if (errno != 0) return fs_error("read directory", prefix, errno);
    std::sort(children.begin(), children.end(),
              [](const Child& a, const Child& b) { return a.tar_name < b.tar_name; });
    return children;
  }

  // `prefix`: this directory's path in the tar with a trailing '/', "" for the layer root.
  Status export_directory(int dir_fd, const std::string& prefix, int depth) {
    if (depth > kMaxDepth) {
      return io_error("export " + prefix + ": more than " + std::to_string(kMaxDepth) +
                      " nested directories");
    }
    auto children = list_children(dir_fd, prefix);
    if (!children.ok()) return children.error();
    for (const Child& child : *children) MATCHLOCK_TRY(export_child(dir_fd, prefix, child, depth));
    return {};
  }

  Status export_child(int dir_fd, const std::string& prefix, const Child& child, int depth) {
    const std::string path = entry_path(dir_fd, child.name);
    const struct stat& st = child.st;
    tar::Entry entry;
    entry.name = prefix + child.tar_name;
    entry.mode = st.st_mode & 07777;
    entry.uid = st.st_uid;
    entry.gid = st.st_gid;
    entry.mtime = st.st_mtim.tv_sec;
    if (is_whiteout(st)) {
      entry.type = tar::kRegular;
      entry.mode = 0600;
      return out_.write(tar::encode_header(entry));
    }
    auto xattrs = read_xattrs(path);
    if (!xattrs.ok()) return xattrs.error().with_context(prefix + child.name);
    entry.xattrs = std::move(*xattrs);
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      auto [it, first] = links_.try_emplace({st.st_dev, st.st_ino}, entry.name);
      if (!first) {
        entry.type = tar::kHardLink;
        entry.link_name = it->second;
        return out_.write(tar::encode_header(entry));
      }
    }
    if (S_ISREG(st.st_mode)) {
      entry.type = tar::kRegular;
      entry.size = static_cast<uint64_t>(st.st_size);
      MATCHLOCK_TRY(out_.write(tar::encode_header(entry)));
      return write_contents(dir_fd, child.name, entry.name, entry.size);
    }
    if (S_ISDIR(st.st_mode)) {
      entry.type = tar::kDirectory;
      entry.name += '/';
      MATCHLOCK_TRY(out_.write(tar::encode_header(entry)));
      if (is_opaque(path)) {
        tar::Entry marker;
        marker.name = entry.name + std::string(tar::kOpaqueMarker);
        marker.mode = 0600;
        marker.mtime = entry.mtime;
        MATCHLOCK_TRY(out_.write(tar::encode_header(marker)));
      }
      UniqueFd sub(
          ::openat(dir_fd, child.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (!sub) return fs_error("open", entry.name, errno);
      return export_directory(sub.get(), entry.name, depth + 1);
    }
    if (S_ISLNK(st.st_mode)) {
      entry.type = tar::kSymlink;
      std::string target(static_cast<size_t>(st.st_size) + 1, '\0');
      ssize_t n = ::readlinkat(dir_fd, child.name.c_str(), target.data(), target.size());
      if (n < 0) return fs_error("readlink", entry.name, errno);
      target.resize(static_cast<size_t>(n));
      entry.link_name = std::move(target);
      return out_.write(tar::encode_header(entry));
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
      entry.type = S_ISCHR(st.st_mode)   ? tar::kCharDevice
                   : S_ISBLK(st.st_mode) ? tar::kBlockDevice
                                         : tar::kFifo;
      if (!S_ISFIFO(st.st_mode)) {
        entry.dev_major = major(st.st_rdev);
        entry.dev_minor = minor(st.st_rdev);
      }
      return out_.write(tar::encode_header(entry));
    }
    return {};  // a socket: tar has no such entry
  }

  // Exactly `size` bytes, as the header said: a file that shrank meanwhile is padded with zeros.
  Status write_contents(int dir_fd, const std::string& name, const std::string& tar_name,
                        uint64_t size) {
    UniqueFd file(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!file) return fs_error("open", tar_name, errno);
    std::string chunk(kOutputBuffer, '\0');
    uint64_t left = size;
    while (left > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, chunk.size()));
      ssize_t n = ::read(file.get(), chunk.data(), want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fs_error("read", tar_name, errno);
      if (n == 0) {
        std::fill(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(want), '\0');
        n = static_cast<ssize_t>(want);
      }
      MATCHLOCK_TRY(out_.write(std::string_view(chunk.data(), static_cast<size_t>(n))));
      left -= static_cast<uint64_t>(n);
    }
    return out_.write(std::string(tar::padding_for(size), '\0'));
  }

  TarOutput out_;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;  // inode -> first path in the tar
};

}  // namespace

Status export_layer_tar(const std::string& layer_dir, int out_fd) {
  UniqueFd root(::open(layer_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!root) return io_error("open layer " + layer_dir + ": " + std::strerror(errno));
  return LayerExporter(out_fd).export_tree(root.get());
}

}  // namespace matchlock::guest_agent
