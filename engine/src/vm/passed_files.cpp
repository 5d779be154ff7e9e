#include "vm/passed_files.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace matchlock::vm {
namespace {

int open_flags(FileAccess access) {
  switch (access) {
    case FileAccess::kRead:
      return O_RDONLY;
    case FileAccess::kReadWrite:
      return O_RDWR;
    case FileAccess::kWriteCreate:
      return O_WRONLY | O_CREAT | O_TRUNC;
  }
  return O_RDONLY;
}

// A sealed in-memory copy of `source` (size `size`): readable through /proc/self/fd by any uid,
// and nobody can change it afterwards.
Result<UniqueFd> memory_copy(int source, const std::filesystem::path& path, off_t size) {
  UniqueFd copy(::memfd_create(path.filename().c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!copy) return io_error("memfd_create: " + std::string(std::strerror(errno)));
  off_t offset = 0;
  while (offset < size) {
    ssize_t n = ::sendfile(copy.get(), source, &offset, static_cast<size_t>(size - offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      return io_error("copy " + path.string() + ": " + std::strerror(n < 0 ? errno : EIO));
  }
  if (::fcntl(copy.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) !=
      0) {
    return io_error("seal the copy of " + path.string() + ": " + std::strerror(errno));
  }
  return copy;
}

}  // namespace

Result<OpenedFiles> open_passed_files(const std::vector<PassedFile>& files, bool for_other_user) {
  OpenedFiles opened;
  for (const auto& file : files) {
    UniqueFd fd(::open(file.path.c_str(), open_flags(file.access) | O_CLOEXEC | O_NOCTTY, 0600));
    if (!fd) return io_error("open " + file.path.string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
      return io_error("stat " + file.path.string() + ": " + std::strerror(errno));
    }
    if (file.access == FileAccess::kReadWrite && S_ISREG(st.st_mode)) {
      opened.largest_writable_bytes =
          std::max(opened.largest_writable_bytes, static_cast<uint64_t>(st.st_size));
    }
    if (file.reopened_by_path && for_other_user && (st.st_mode & S_IROTH) == 0) {
      auto copy = memory_copy(fd.get(), file.path, st.st_size);
      if (!copy.ok()) return copy.error();
      fd = std::move(copy.value());
    }
    opened.inherit[file.fd] = fd.get();
    opened.fds.push_back(std::move(fd));
  }
  return opened;
}

}  // namespace matchlock::vm
