#include "core/append_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace matchlock {

Result<AppendFile> AppendFile::open(const std::string& path, std::string what, bool readable) {
  int access = readable ? O_RDWR : O_WRONLY;
  UniqueFd fd(::open(path.c_str(), access | O_APPEND | O_CREAT | O_CLOEXEC, 0600));
  if (!fd) return io_error(what + " " + path + ": " + std::strerror(errno));
  return AppendFile(std::move(fd), path, std::move(what));
}

void AppendFile::append(std::string_view line) {
  size_t written = 0;
  while (written < line.size()) {
    ssize_t n = ::write(fd_.get(), line.data() + written, line.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (failed_writes_++ == 0) {
        log::warn(what_ + " " + path_ + ": " + (n < 0 ? std::strerror(errno) : "nothing written") +
                  "; further lines may be lost (reported once)");
      }
      return;
    }
    written += static_cast<size_t>(n);
  }
}

}  // namespace matchlock
