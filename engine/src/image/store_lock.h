// Store-wide advisory lock (flock on images_dir/.lock). Imports and base-disk builds hold it
// shared while they write blobs; garbage collection holds it exclusively, so it never deletes a
// blob that an in-flight import has written but not yet recorded.
#pragma once

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock::image {

class StoreLock {
 public:
  static Result<StoreLock> open(const std::filesystem::path& file) {
    UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!fd) return io_error("open " + file.string() + ": " + std::strerror(errno));
    return StoreLock(std::move(fd));
  }
  // RAII holder: unlocks on destruction.
  class Held {
   public:
    explicit Held(int fd) : fd_(fd) {}
    Held(Held&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    Held& operator=(Held&&) = delete;
    ~Held() {
      if (fd_ >= 0) ::flock(fd_, LOCK_UN);
    }

   private:
    int fd_;
  };
  Result<Held> shared() const { return take(LOCK_SH); }
  Result<Held> exclusive() const { return take(LOCK_EX); }

 private:
  explicit StoreLock(UniqueFd fd) : fd_(std::move(fd)) {}
  Result<Held> take(int op) const {
    while (::flock(fd_.get(), op) != 0) {
      if (errno != EINTR) return io_error(std::string("lock image store: ") + std::strerror(errno));
    }
    return Held(fd_.get());
  }
  UniqueFd fd_;
};

}  // namespace matchlock::image
