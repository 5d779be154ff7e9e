// FileHandle's scattered I/O for providers that have no vectored call of their own: one
// read() or write() per buffer, stopping at the first short one.
#include <string_view>

#include "vfs/provider.h"

namespace matchlock::vfs {

Outcome<size_t> FileHandle::read_into(uint64_t offset, std::span<const iovec> out) {
  size_t total = 0;
  for (const iovec& b : out) {
    auto n = read(offset + total, std::span<char>(static_cast<char*>(b.iov_base), b.iov_len));
    if (!n) return total ? Outcome<size_t>(total) : n;
    total += *n;
    if (*n < b.iov_len) break;
  }
  return total;
}

Outcome<size_t> FileHandle::write_from(uint64_t offset, std::span<const iovec> data) {
  size_t total = 0;
  for (const iovec& b : data) {
    auto n =
        write(offset + total, std::string_view(static_cast<const char*>(b.iov_base), b.iov_len));
    if (!n) return total ? Outcome<size_t>(total) : n;
    total += *n;
    if (*n < b.iov_len) break;
  }
  return total;
}

}  // namespace matchlock::vfs
