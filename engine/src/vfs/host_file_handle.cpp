#include "vfs/host_file_handle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <limits>

#include "vfs/host_dir_provider.h"
#include "vfs/io_vectors.h"

namespace matchlock::vfs {

namespace {

constexpr uint64_t kMaxOffset = static_cast<uint64_t>(std::numeric_limits<off_t>::max());

// preadv/pwritev take at most IOV_MAX buffers a call; the first short call ends the transfer
// (end of file, or a short write the guest kernel reports).
template <typename Call>
Outcome<size_t> vectored(std::span<const iovec> buffers, uint64_t offset, Call call) {
  size_t total = 0;
  while (!buffers.empty()) {
    auto part = buffers.first(std::min<size_t>(buffers.size(), IOV_MAX));
    size_t want = total_bytes(part);
    ssize_t n = call(part, static_cast<off_t>(offset + total));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return total ? Outcome<size_t>(total) : Outcome<size_t>(last_errno());
    total += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) break;
    buffers = buffers.subspan(part.size());
  }
  return total;
}

}  // namespace

Outcome<size_t> HostFileHandle::read(uint64_t offset, std::span<char> out) {
  const iovec one{out.data(), out.size()};
  return read_into(offset, std::span<const iovec>(&one, 1));
}

Outcome<size_t> HostFileHandle::write(uint64_t offset, std::string_view data) {
  const iovec one{const_cast<char*>(data.data()), data.size()};  // pwritev only reads it
  return write_from(offset, std::span<const iovec>(&one, 1));
}

Outcome<size_t> HostFileHandle::read_into(uint64_t offset, std::span<const iovec> out) {
  if (offset > kMaxOffset) return Errno{EINVAL};
  return vectored(out, offset, [this](std::span<const iovec> part, off_t at) {
    return ::preadv(fd_.get(), part.data(), static_cast<int>(part.size()), at);
  });
}

Outcome<size_t> HostFileHandle::write_from(uint64_t offset, std::span<const iovec> data) {
  if (offset > kMaxOffset) return Errno{EFBIG};
  return vectored(data, offset, [this](std::span<const iovec> part, off_t at) {
    return ::pwritev(fd_.get(), part.data(), static_cast<int>(part.size()), at);
  });
}

Outcome<Attr> HostFileHandle::stat() {
  struct stat st {};
  if (::fstat(fd_.get(), &st) != 0) return last_errno();
  return attr_from_stat(st, ids_);
}

Outcome<Attr> HostFileHandle::change(const AttrChange& c) {
  if (c.size) {
    if (*c.size > kMaxOffset) return Errno{EFBIG};
    if (::ftruncate(fd_.get(), static_cast<off_t>(*c.size)) != 0) return last_errno();
  }
  if (c.mode && ::fchmod(fd_.get(), *c.mode & 07777) != 0) return last_errno();
  if (c.uid || c.gid) {
    uid_t uid = c.uid ? ids_.uid_to_host(*c.uid) : static_cast<uid_t>(-1);
    gid_t gid = c.gid ? ids_.gid_to_host(*c.gid) : static_cast<gid_t>(-1);
    if (::fchown(fd_.get(), uid, gid) != 0) return last_errno();
  }
  if (c.atime || c.mtime) {
    timespec times[2] = {{0, UTIME_OMIT}, {0, UTIME_OMIT}};
    if (c.atime) times[0] = *c.atime;
    if (c.mtime) times[1] = *c.mtime;
    if (::futimens(fd_.get(), times) != 0) return last_errno();
  }
  return stat();
}

Status HostFileHandle::sync(bool data_only) {
  int rc = data_only ? ::fdatasync(fd_.get()) : ::fsync(fd_.get());
  if (rc != 0) return last_errno();
  return ok_status();
}

}  // namespace matchlock::vfs
