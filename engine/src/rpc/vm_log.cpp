#include "rpc/vm_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/unique_fd.h"

namespace matchlock::rpc {

std::vector<std::string> vm_log_file_names() {
  return {"console.log", "output.log"};
}

Result<std::string> read_vm_log(const std::filesystem::path& dir, uint64_t max_bytes) {
  std::string out;
  for (const auto& name : vm_log_file_names()) {
    const auto path = dir / name;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
      if (errno == ENOENT) continue;
      return io_error("read VM log " + path.string() + ": " + std::strerror(errno));
    }
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("read VM log " + path.string() + ": " + std::strerror(errno));
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
      // Keep only the newest bytes; trimming in large steps keeps the copying linear.
      if (out.size() > 2 * max_bytes) out.erase(0, out.size() - max_bytes);
    }
  }
  if (out.size() > max_bytes) out.erase(0, out.size() - max_bytes);
  return out;
}

std::optional<LogCursor::Read> LogCursor::next(const std::vector<uint64_t>& sizes,
                                               size_t max_chunk) {
  for (size_t i = 0; i < offsets_.size() && i < sizes.size(); ++i) {
    if (sizes[i] < offsets_[i]) offsets_[i] = 0;
    if (sizes[i] > offsets_[i]) {
      const uint64_t left = sizes[i] - offsets_[i];
      return Read{i, offsets_[i], static_cast<size_t>(std::min<uint64_t>(left, max_chunk))};
    }
  }
  return std::nullopt;
}

void LogCursor::advance(size_t file, size_t n) {
  if (file < offsets_.size()) offsets_[file] += n;
}

}  // namespace matchlock::rpc
