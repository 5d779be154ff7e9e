#include "vfs/host_dir_provider.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>

#include "vfs/host_file_handle.h"

namespace matchlock::vfs {

namespace {

// Flags for opening a node that is then used as a file: no symlink at the last component, no
// blocking on a FIFO, no controlling terminal.
constexpr uint64_t kFileOpenFlags = O_NOFOLLOW | O_NONBLOCK | O_NOCTTY;

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

Outcome<struct stat> fstat_fd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return last_errno();
  return st;
}

// Why a node that is not a regular file cannot be opened as one.
Errno not_regular(mode_t mode) {
  if (S_ISLNK(mode)) return Errno{ELOOP};
  if (S_ISDIR(mode)) return Errno{EISDIR};
  return Errno{EACCES};
}

bool has_nul(const std::string& s) {
  return s.find('\0') != std::string::npos;
}

}  // namespace

Attr attr_from_stat(const struct stat& st, const IdMap& ids) {
  Attr a;
  a.ino = st.st_ino;
  a.mode = st.st_mode;
  a.nlink = static_cast<uint32_t>(st.st_nlink);
  a.uid = ids.uid_to_guest(st.st_uid);
  a.gid = ids.gid_to_guest(st.st_gid);
  a.size = static_cast<uint64_t>(st.st_size);
  a.blocks = static_cast<uint64_t>(st.st_blocks);
  a.rdev = static_cast<uint32_t>(st.st_rdev);
  a.atime = st.st_atim;
  a.mtime = st.st_mtim;
  a.ctime = st.st_ctim;
  return a;
}

Outcome<std::unique_ptr<HostDirProvider>> HostDirProvider::serve(const std::string& host_path,
                                                                 IdMap ids, bool owner_is_root) {
  // The host path comes from the user, not the guest: symlinks in it are followed once here.
  UniqueFd fd(::open(host_path.c_str(), O_PATH | O_CLOEXEC));
  if (!fd) return last_errno();
  auto st = fstat_fd(fd.get());
  if (!st) return Errno{st.error()};
  if (S_ISDIR(st->st_mode)) {
    return std::unique_ptr<HostDirProvider>(
        new HostDirProvider(std::move(fd), "", ids, owner_is_root));
  }
  if (!S_ISREG(st->st_mode)) return Errno{EINVAL};
  // A file root is served as (its directory, its name) so it can be reopened for I/O without a
  // /proc magic link.
  std::unique_ptr<char, decltype(&std::free)> real(::realpath(host_path.c_str(), nullptr),
                                                   &std::free);
  if (!real) return last_errno();
  auto [dir, name] = split_parent(std::string(real.get()));
  UniqueFd base(::open(dir.empty() ? "/" : dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!base) return last_errno();
  auto again = lstat_at(base.get(), name);
  if (!again) return Errno{again.error()};
  if (again->st_dev != st->st_dev || again->st_ino != st->st_ino) return Errno{EAGAIN};
  return std::unique_ptr<HostDirProvider>(
      new HostDirProvider(std::move(base), name, ids, owner_is_root));
}

HostDirProvider::HostDirProvider(UniqueFd base, std::string root_name, IdMap ids,
                                 bool owner_is_root)
    : base_(std::move(base)),
      root_name_(std::move(root_name)),
      ids_(ids),
      owner_is_root_(owner_is_root) {}

Outcome<Located> HostDirProvider::locate(const std::string& path) const {
  if (!serves_single_file()) return locate_beneath(base_.get(), path);
  if (!path.empty()) return Errno{ENOTDIR};
  auto dir = open_beneath(base_.get(), ".", O_PATH | O_DIRECTORY);
  if (!dir) return Errno{dir.error()};
  return Located{std::move(dir.value()), root_name_};
}

Outcome<UniqueFd> HostDirProvider::open_node(const std::string& path, uint64_t flags) const {
  if (!serves_single_file()) return open_beneath(base_.get(), path, flags);
  if (!path.empty()) return Errno{ENOTDIR};
  return open_beneath(base_.get(), root_name_, flags);
}

Outcome<Attr> HostDirProvider::stat_located(const Located& at) const {
  auto st = lstat_at(at.dir.get(), at.name);
  if (!st) return Errno{st.error()};
  return attr_from_stat(*st, ids_);
}

Outcome<Attr> HostDirProvider::stat(const std::string& path) {
  auto at = locate(path);
  if (!at) return Errno{at.error()};
  return stat_located(*at);
}

Outcome<std::vector<DirEntry>> HostDirProvider::list(const std::string& path) {
  auto fd = open_node(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  if (!fd) return Errno{fd.error() == ELOOP ? ENOTDIR : fd.error()};
  std::unique_ptr<DIR, DirCloser> dir(::fdopendir(fd->get()));
  if (!dir) return last_errno();
  fd->release();  // owned by `dir` now
  std::vector<DirEntry> entries;
  for (;;) {
    errno = 0;
    dirent* d = ::readdir(dir.get());
    if (!d) break;
    std::string name(d->d_name);
    if (name == "." || name == "..") continue;
    uint32_t type = DTTOIF(d->d_type);
    if (d->d_type == DT_UNKNOWN) {
      auto st = lstat_at(::dirfd(dir.get()), name);
      if (!st) continue;  // gone meanwhile
      type = st->st_mode & S_IFMT;
    }
    entries.push_back(DirEntry{std::move(name), d->d_ino, type});
  }
  if (errno != 0) return last_errno();
  return entries;
}

// Checked with an O_PATH open first, so a FIFO or device is never opened for I/O (which could
// block or have side effects), then opened for real and checked again (it may have been
// replaced in between).
Outcome<std::unique_ptr<FileHandle>> HostDirProvider::open(const std::string& path, int flags) {
  int access = flags & O_ACCMODE;
  if (access == O_ACCMODE) return Errno{EINVAL};
  auto probe = open_node(path, O_PATH | O_NOFOLLOW);
  if (!probe) return Errno{probe.error()};
  auto st = fstat_fd(probe->get());
  if (!st) return Errno{st.error()};
  if (!S_ISREG(st->st_mode)) return not_regular(st->st_mode);
  auto fd = open_node(path, access | (flags & (O_APPEND | O_TRUNC)) | kFileOpenFlags);
  if (!fd) return Errno{fd.error()};
  st = fstat_fd(fd->get());
  if (!st) return Errno{st.error()};
  if (!S_ISREG(st->st_mode)) return not_regular(st->st_mode);
  return std::unique_ptr<FileHandle>(new HostFileHandle(std::move(fd.value()), ids_));
}

Outcome<Created> HostDirProvider::create(const std::string& path, int flags, uint32_t mode,
                                         const Caller& caller) {
  int access = flags & O_ACCMODE;
  if (access == O_ACCMODE) return Errno{EINVAL};
  if (!path.empty()) {
    auto at = locate(path);
    if (!at) return Errno{at.error()};
    auto fd =
        open_beneath(at->dir.get(), at->name,
                     O_CREAT | O_EXCL | access | (flags & O_APPEND) | kFileOpenFlags, mode & 07777);
    if (fd) {
      // The exact guest mode: the owner process's umask is not the guest's.
      if (::fchmod(fd->get(), mode & 07777) != 0) return last_errno();
      if (owner_is_root_ &&
          ::fchown(fd->get(), ids_.uid_to_host(caller.uid), ids_.gid_to_host(caller.gid)) != 0) {
        return last_errno();
      }
      auto st = fstat_fd(fd->get());
      if (!st) return Errno{st.error()};
      return Created{attr_from_stat(*st, ids_),
                     std::make_unique<HostFileHandle>(std::move(fd.value()), ids_)};
    }
    if (fd.error() != EEXIST) return Errno{fd.error()};
  }
  if (flags & O_EXCL) return Errno{EEXIST};
  auto handle = open(path, flags);
  if (!handle) return Errno{handle.error()};
  auto attr = (*handle)->stat();
  if (!attr) return Errno{attr.error()};
  return Created{std::move(attr.value()), std::move(handle.value())};
}

Status HostDirProvider::adopt_new_node(const Located& at, uint32_t mode, const Caller& caller,
                                       bool is_link) {
  if (!is_link) {
    auto done = chmod_nofollow(at.dir.get(), at.name, mode & 07777);
    if (!done) return done;
  }
  if (owner_is_root_ && ::fchownat(at.dir.get(), at.name.c_str(), ids_.uid_to_host(caller.uid),
                                   ids_.gid_to_host(caller.gid), AT_SYMLINK_NOFOLLOW) != 0) {
    return last_errno();
  }
  return ok_status();
}

Outcome<Attr> HostDirProvider::mkdir(const std::string& path, uint32_t mode, const Caller& caller) {
  if (path.empty()) return Errno{EEXIST};
  auto at = locate(path);
  if (!at) return Errno{at.error()};
  if (::mkdirat(at->dir.get(), at->name.c_str(), mode & 07777) != 0) return last_errno();
  auto adopted = adopt_new_node(*at, mode, caller, false);
  if (!adopted) return Errno{adopted.error()};
  return stat_located(*at);
}

Outcome<Attr> HostDirProvider::symlink(const std::string& target, const std::string& path,
                                       const Caller& caller) {
  if (path.empty()) return Errno{EEXIST};
  if (target.empty()) return Errno{ENOENT};
  if (has_nul(target) || target.size() >= PATH_MAX) return Errno{ENAMETOOLONG};
  auto at = locate(path);
  if (!at) return Errno{at.error()};
  if (::symlinkat(target.c_str(), at->dir.get(), at->name.c_str()) != 0) return last_errno();
  auto adopted = adopt_new_node(*at, 0, caller, true);
  if (!adopted) return Errno{adopted.error()};
  return stat_located(*at);
}

Outcome<std::string> HostDirProvider::readlink(const std::string& path) {
  auto at = locate(path);
  if (!at) return Errno{at.error()};
  std::string buf(PATH_MAX, '\0');
  ssize_t n = ::readlinkat(at->dir.get(), at->name.c_str(), buf.data(), buf.size());
  if (n < 0) return last_errno();
  if (static_cast<size_t>(n) >= buf.size()) return Errno{ENAMETOOLONG};
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Outcome<Attr> HostDirProvider::link(const std::string& existing, const std::string& new_path) {
  if (new_path.empty()) return Errno{EEXIST};
  auto from = locate(existing);
  if (!from) return Errno{from.error()};
  auto to = locate(new_path);
  if (!to) return Errno{to.error()};
  // Flags 0: a symlink is linked itself, never followed.
  if (::linkat(from->dir.get(), from->name.c_str(), to->dir.get(), to->name.c_str(), 0) != 0) {
    return last_errno();
  }
  return stat_located(*to);
}

Status HostDirProvider::unlink(const std::string& path) {
  if (path.empty()) return Errno{EBUSY};
  auto at = locate(path);
  if (!at) return Errno{at.error()};
  if (::unlinkat(at->dir.get(), at->name.c_str(), 0) != 0) return last_errno();
  return ok_status();
}

Status HostDirProvider::rmdir(const std::string& path) {
  if (path.empty()) return Errno{EBUSY};
  auto at = locate(path);
  if (!at) return Errno{at.error()};
  if (::unlinkat(at->dir.get(), at->name.c_str(), AT_REMOVEDIR) != 0) return last_errno();
  return ok_status();
}

Status HostDirProvider::rename(const std::string& from, const std::string& to, unsigned flags) {
  if (from.empty() || to.empty()) return Errno{EBUSY};
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Errno{EINVAL};
  auto a = locate(from);
  if (!a) return Errno{a.error()};
  auto b = locate(to);
  if (!b) return Errno{b.error()};
  if (::syscall(SYS_renameat2, a->dir.get(), a->name.c_str(), b->dir.get(), b->name.c_str(),
                flags) != 0) {
    return last_errno();
  }
  return ok_status();
}

// Each part acts on (parent, name) without following a symlink; a size change needs a
// writable fd, opened like open() does.
Outcome<Attr> HostDirProvider::change(const std::string& path, const AttrChange& c) {
  auto at = locate(path);
  if (!at) return Errno{at.error()};
  if (c.size) {
    auto handle = open(path, O_WRONLY);
    if (!handle) return Errno{handle.error()};
    AttrChange truncate;
    truncate.size = c.size;
    auto done = (*handle)->change(truncate);
    if (!done) return Errno{done.error()};
  }
  if (c.mode) {
    auto done = chmod_nofollow(at->dir.get(), at->name, *c.mode & 07777);
    if (!done) return Errno{done.error()};
  }
  if (c.uid || c.gid) {
    uid_t uid = c.uid ? ids_.uid_to_host(*c.uid) : static_cast<uid_t>(-1);
    gid_t gid = c.gid ? ids_.gid_to_host(*c.gid) : static_cast<gid_t>(-1);
    if (::fchownat(at->dir.get(), at->name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0) {
      return last_errno();
    }
  }
  if (c.atime || c.mtime) {
    timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (c.atime) times[0] = *c.atime;
    if (c.mtime) times[1] = *c.mtime;
    if (::utimensat(at->dir.get(), at->name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return last_errno();
    }
  }
  return stat_located(*at);
}

Outcome<FsStats> HostDirProvider::statfs() {
  struct statfs s {};
  if (::fstatfs(base_.get(), &s) != 0) return last_errno();
  FsStats out;
  out.blocks = s.f_blocks;
  out.blocks_free = s.f_bfree;
  out.blocks_available = s.f_bavail;
  out.files = s.f_files;
  out.files_free = s.f_ffree;
  out.block_size = static_cast<uint32_t>(s.f_bsize);
  out.name_max = static_cast<uint32_t>(s.f_namelen);
  return out;
}

}  // namespace matchlock::vfs
