// Scattered buffers (struct iovec) as file data crosses between the guest's RAM and host files:
// a READ's reply room and a WRITE's payload stay where the guest put them.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace matchlock::vfs {

size_t total_bytes(std::span<const iovec> buffers);
// The first `max` bytes of `buffers` (the last one cut short if needed).
std::vector<iovec> first_bytes(std::span<const iovec> buffers, size_t max);
// A copy of every byte, in order.
std::string gather(std::span<const iovec> buffers);

}  // namespace matchlock::vfs
