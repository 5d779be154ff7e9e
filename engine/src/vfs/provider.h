// A provider serves one mounted tree: the workspace's memory root, a host directory, a
// read-only view of one, or a copy-on-write overlay. The FUSE server (through the mount table)
// calls providers with paths relative to the provider's root.
//
// Paths: "" is the provider's root; otherwise components joined by '/', each non-empty, not "."
// or "..", without NUL. The caller validates names, but a provider that touches the host must
// still confine every access beneath its root itself (host_dir_provider: openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), because a symlink can be swapped in at any moment.
//
// Every call is synchronous and runs on the owner's loop; providers are not thread-safe.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vfs/outcome.h"

namespace matchlock::vfs {

// File attributes as the guest sees them (mode includes the S_IF* type bits).
struct Attr {
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint32_t nlink = 1;
  uint32_t uid = 0;  // guest ids (a host provider maps them, see IdMap)
  uint32_t gid = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units
  uint32_t rdev = 0;
  timespec atime{}, mtime{}, ctime{};
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint32_t type = 0;  // S_IF* bits of the entry's mode
};

// What a setattr changes. Times may carry UTIME_NOW in tv_nsec.
struct AttrChange {
  std::optional<uint32_t> mode;  // permission bits (07777) only
  std::optional<uint32_t> uid;   // guest ids
  std::optional<uint32_t> gid;
  std::optional<uint64_t> size;
  std::optional<timespec> atime;
  std::optional<timespec> mtime;
};

struct FsStats {
  uint64_t blocks = 0, blocks_free = 0, blocks_available = 0;
  uint64_t files = 0, files_free = 0;
  uint32_t block_size = 4096;
  uint32_t name_max = 255;
};

// Who asks (from the FUSE request): guest ids, used for ownership of new nodes.
struct Caller {
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint32_t pid = 0;
};

// Ownership mapping for host-backed providers: the host user who owns the mount (normally the
// user running matchlock) appears in the guest as `guest_*`, and that guest id maps back to
// it; every other id passes through unchanged (a swap, so the mapping is one-to-one).
struct IdMap {
  uint32_t host_uid = 0, host_gid = 0;
  uint32_t guest_uid = 0, guest_gid = 0;
  uint32_t uid_to_guest(uint32_t host) const {
    return host == host_uid ? guest_uid : host == guest_uid ? host_uid : host;
  }
  uint32_t gid_to_guest(uint32_t host) const {
    return host == host_gid ? guest_gid : host == guest_gid ? host_gid : host;
  }
  uint32_t uid_to_host(uint32_t guest) const {
    return guest == guest_uid ? host_uid : guest == host_uid ? guest_uid : guest;
  }
  uint32_t gid_to_host(uint32_t guest) const {
    return guest == guest_gid ? host_gid : guest == host_gid ? guest_gid : guest;
  }
};

// An open file. Reads and writes go through it even after the path was unlinked or renamed.
class FileHandle {
 public:
  virtual ~FileHandle() = default;
  // Up to out.size() bytes at `offset`; 0 at end of file.
  virtual Outcome<size_t> read(uint64_t offset, std::span<char> out) = 0;
  virtual Outcome<size_t> write(uint64_t offset, std::string_view data) = 0;
  // The same into or from scattered buffers: the guest's RAM, so file data crosses without a
  // copy in the engine. The defaults (file_handle.cpp) call read() or write() per buffer.
  virtual Outcome<size_t> read_into(uint64_t offset, std::span<const iovec> out);
  virtual Outcome<size_t> write_from(uint64_t offset, std::span<const iovec> data);
  virtual Outcome<Attr> stat() = 0;
  virtual Outcome<Attr> change(const AttrChange& change) = 0;  // ftruncate, fchmod, futimens
  virtual Status sync(bool data_only) = 0;
};

struct Created {
  Attr attr;
  std::unique_ptr<FileHandle> handle;
};

class Provider {
 public:
  virtual ~Provider() = default;

  virtual Outcome<Attr> stat(const std::string& path) = 0;  // lstat: a symlink is not followed
  // Entries without "." and "..", in no particular order.
  virtual Outcome<std::vector<DirEntry>> list(const std::string& path) = 0;
  // flags: O_RDONLY/O_WRONLY/O_RDWR plus O_APPEND, O_TRUNC (others ignored). O_NOFOLLOW is
  // implied: opening a symlink fails with ELOOP (the kernel resolves symlinks itself).
  virtual Outcome<std::unique_ptr<FileHandle>> open(const std::string& path, int flags) = 0;
  // Creates a regular file (O_EXCL in flags: EEXIST if it exists) and opens it.
  virtual Outcome<Created> create(const std::string& path, int flags, uint32_t mode,
                                  const Caller& caller) = 0;
  virtual Outcome<Attr> mkdir(const std::string& path, uint32_t mode, const Caller& caller) = 0;
  virtual Outcome<Attr> symlink(const std::string& target, const std::string& path,
                                const Caller& caller) = 0;
  virtual Outcome<std::string> readlink(const std::string& path) = 0;
  virtual Outcome<Attr> link(const std::string& existing, const std::string& new_path) = 0;
  virtual Status unlink(const std::string& path) = 0;
  virtual Status rmdir(const std::string& path) = 0;
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE (linux/fs.h values).
  virtual Status rename(const std::string& from, const std::string& to, unsigned flags) = 0;
  virtual Outcome<Attr> change(const std::string& path, const AttrChange& change) = 0;
  virtual Outcome<FsStats> statfs() = 0;
  virtual bool read_only() const = 0;
};

}  // namespace matchlock::vfs
