#include "entropy.h"

#include <fcntl.h>
#include <linux/random.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/unique_fd.h"

namespace matchlock::guest_agent {

Status add_host_entropy(std::string_view bytes) {
  UniqueFd urandom(::open("/dev/urandom", O_WRONLY | O_CLOEXEC));
  if (!urandom) return io_error(std::string("open /dev/urandom: ") + std::strerror(errno));
  // rand_pool_info ends in a flexible array: build it in a word-aligned buffer.
  std::vector<uint32_t> storage(sizeof(rand_pool_info) / sizeof(uint32_t) +
                                (bytes.size() + sizeof(uint32_t) - 1) / sizeof(uint32_t) + 1);
  auto* info = reinterpret_cast<rand_pool_info*>(storage.data());
  info->entropy_count = static_cast<int>(bytes.size() * 8);
  info->buf_size = static_cast<int>(bytes.size());
  std::memcpy(info->buf, bytes.data(), bytes.size());
  if (::ioctl(urandom.get(), RNDADDENTROPY, info) != 0) {
    return io_error(std::string("RNDADDENTROPY: ") + std::strerror(errno));
  }
  if (::ioctl(urandom.get(), RNDRESEEDCRNG) != 0) {
    return io_error(std::string("RNDRESEEDCRNG: ") + std::strerror(errno));
  }
  return {};
}

}  // namespace matchlock::guest_agent
