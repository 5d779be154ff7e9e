#include "sandbox/sparse_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include <xxhash.h>

#include "core/unique_fd.h"

namespace matchlock::sandbox {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kDigestPrefix = "xxh3-128:";

struct FreeXxh3State {
  void operator()(XXH3_state_t* state) const { XXH3_freeState(state); }
};

// An XXH3-128 hash being computed.
class Xxh3 {
 public:
  Xxh3() : state_(XXH3_createState()) {
    if (!state_) throw std::bad_alloc();
    XXH3_128bits_reset(state_.get());
  }
  void update(const void* data, size_t length) { XXH3_128bits_update(state_.get(), data, length); }
  std::string finish() {
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state_.get()));
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(kDigestPrefix);
    for (unsigned char byte : canonical.digest) {
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
    return out;
  }

 private:
  std::unique_ptr<XXH3_state_t, FreeXxh3State> state_;
};

// Walks the data extents of `fd` (SEEK_DATA / SEEK_HOLE), hashing each with its offset and
// handing its bytes to `chunk(offset, data, length)`.
template <class Chunk>
Result<std::string> walk_data(int fd, off_t size, const fs::path& name, Chunk chunk) {
  Xxh3 hash;
  std::vector<char> buf(1 << 20);
  off_t pos = 0;
  while (pos < size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole is left
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0 || hole > size) hole = size;
    std::string extent = std::to_string(data) + "+" + std::to_string(hole - data) + ":";
    hash.update(extent.data(), extent.size());
    for (off_t at = data; at < hole;) {
      size_t want = static_cast<size_t>(std::min<off_t>(hole - at, static_cast<off_t>(buf.size())));
      ssize_t n = ::pread(fd, buf.data(), want, at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("read " + name.string() + ": " + std::strerror(errno));
      if (n == 0) return io_error("read " + name.string() + ": unexpected end of file");
      hash.update(buf.data(), static_cast<size_t>(n));
      MATCHLOCK_TRY(chunk(at, buf.data(), static_cast<size_t>(n)));
      at += n;
    }
    pos = hole;
  }
  return hash.finish();
}

}  // namespace

bool is_file_digest(std::string_view text) {
  if (!text.starts_with(kDigestPrefix) || text.size() != kDigestPrefix.size() + 32) return false;
  return text.find_first_not_of("0123456789abcdef", kDigestPrefix.size()) == std::string_view::npos;
}

Result<std::string> digest_of_file(const fs::path& file, uint64_t* bytes) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return io_error("open " + file.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("stat " + file.string());
  *bytes = static_cast<uint64_t>(st.st_size);
  return walk_data(fd.get(), st.st_size, file,
                   [](off_t, const char*, size_t) -> Status { return Status(); });
}

Result<std::string> copy_sparse_file(const fs::path& from, const fs::path& to) {
  UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!out) return io_error("create " + to.string() + ": " + std::strerror(errno));
  return copy_sparse_file_into(from, out.get(), to);
}

Result<std::string> copy_sparse_file_into(const fs::path& from, int out_fd, const fs::path& to) {
  UniqueFd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return io_error("open " + from.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return io_error("stat " + from.string());
  if (::ftruncate(out_fd, st.st_size) != 0) {
    return io_error("size " + to.string() + ": " + std::strerror(errno));
  }
  return walk_data(
      in.get(), st.st_size, from, [&](off_t at, const char* data, size_t length) -> Status {
        for (size_t done = 0; done < length;) {
          ssize_t n = ::pwrite(out_fd, data + done, length - done, at + static_cast<off_t>(done));
          if (n < 0 && errno == EINTR) continue;
          if (n < 0) return io_error("write " + to.string() + ": " + std::strerror(errno));
          done += static_cast<size_t>(n);
        }
        return Status();
      });
}

}  // namespace matchlock::sandbox
