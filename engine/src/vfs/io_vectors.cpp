#include "vfs/io_vectors.h"

#include <algorithm>

namespace matchlock::vfs {

size_t total_bytes(std::span<const iovec> buffers) {
  size_t n = 0;
  for (const iovec& b : buffers) n += b.iov_len;
  return n;
}

std::vector<iovec> first_bytes(std::span<const iovec> buffers, size_t max) {
  std::vector<iovec> out;
  for (const iovec& b : buffers) {
    if (max == 0) break;
    size_t n = std::min(b.iov_len, max);
    out.push_back(iovec{b.iov_base, n});
    max -= n;
  }
  return out;
}

std::string gather(std::span<const iovec> buffers) {
  std::string out;
  out.reserve(total_bytes(buffers));
  for (const iovec& b : buffers) out.append(static_cast<const char*>(b.iov_base), b.iov_len);
  return out;
}

}  // namespace matchlock::vfs
