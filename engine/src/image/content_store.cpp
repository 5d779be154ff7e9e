#include "image/content_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/paths.h"

namespace matchlock::image {
namespace {

std::string errno_text() {
  return std::strerror(errno);
}

Status write_all(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write: " + errno_text());
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<std::pair<UniqueFd, std::filesystem::path>> make_temp_file(const std::filesystem::path& dir,
                                                                  const std::string& prefix) {
  std::string tmpl = (dir / (prefix + "XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) return io_error("create temp file in " + dir.string() + ": " + errno_text());
  return std::make_pair(UniqueFd(fd), std::filesystem::path(buf.data()));
}

Status fsync_dir(const std::filesystem::path& dir) {
  UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return io_error("open " + dir.string() + ": " + errno_text());
  if (::fsync(fd.get()) != 0) return io_error("fsync " + dir.string() + ": " + errno_text());
  return {};
}

ContentStore::ContentStore(std::filesystem::path root, std::filesystem::path tmp_dir)
    : root_(std::move(root)), tmp_dir_(std::move(tmp_dir)) {}

Status ContentStore::init() const {
  MATCHLOCK_TRY(ensure_private_dir(root_ / "sha256", 0755));
  MATCHLOCK_TRY(ensure_private_dir(tmp_dir_, 0700));
  return {};
}

std::filesystem::path ContentStore::path(std::string_view digest) const {
  return root_ / "sha256" / digest_hex(digest);
}

bool ContentStore::contains(std::string_view digest) const {
  struct stat st {};
  return is_sha256_digest(digest) && ::lstat(path(digest).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

ContentStore::Writer::Writer(const ContentStore* store, UniqueFd fd, std::filesystem::path tmp)
    : store_(store), fd_(std::move(fd)), tmp_(std::move(tmp)), hash_(std::make_unique<Sha256>()) {}

ContentStore::Writer::~Writer() {
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

Status ContentStore::Writer::write(const void* data, size_t len) {
  hash_->update(data, len);
  size_ += static_cast<int64_t>(len);
  return write_all(fd_.get(), data, len);
}

Result<BlobInfo> ContentStore::Writer::commit(std::string_view expected_digest,
                                              int64_t expected_size) {
  BlobInfo info;
  info.digest = hash_->finish();
  info.size = size_;
  if (expected_size >= 0 && expected_size != size_) {
    return invalid_argument("blob " + std::string(expected_digest) + " is " +
                            std::to_string(size_) + " bytes, expected " +
                            std::to_string(expected_size));
  }
  if (!expected_digest.empty() && expected_digest != info.digest) {
    return invalid_argument("blob digest mismatch: expected " + std::string(expected_digest) +
                            ", got " + info.digest);
  }
  if (::fchmod(fd_.get(), 0644) != 0 || ::fsync(fd_.get()) != 0) {
    return io_error("fsync " + tmp_.string() + ": " + errno_text());
  }
  fd_.reset();
  std::filesystem::path final_path = store_->path(info.digest);
  info.created = !store_->contains(info.digest);
  if (::rename(tmp_.c_str(), final_path.c_str()) != 0) {
    return io_error("rename blob to " + final_path.string() + ": " + errno_text());
  }
  tmp_.clear();
  MATCHLOCK_TRY(fsync_dir(final_path.parent_path()));
  return info;
}

Result<ContentStore::Writer> ContentStore::begin_write() const {
  auto tmp = make_temp_file(tmp_dir_, "blob-");
  if (!tmp) return tmp.error();
  return Writer(this, std::move(tmp->first), std::move(tmp->second));
}

Result<BlobInfo> ContentStore::put(std::string_view data, std::string_view expected_digest) const {
  auto w = begin_write();
  if (!w) return w.error();
  MATCHLOCK_TRY(w->write(data.data(), data.size()));
  return w->commit(expected_digest, -1);
}

Status ContentStore::verify(std::string_view digest, int64_t expected_size) const {
  if (!is_sha256_digest(digest)) return invalid_argument("malformed digest " + std::string(digest));
  std::filesystem::path p = path(digest);
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return not_found("blob " + std::string(digest) + " missing: " + errno_text());
  Sha256 h;
  int64_t size = 0;
  std::vector<char> buf(1 << 16);
  while (true) {
    ssize_t n = ::read(fd.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read " + p.string() + ": " + errno_text());
    }
    if (n == 0) break;
    h.update(buf.data(), static_cast<size_t>(n));
    size += n;
  }
  if (expected_size >= 0 && size != expected_size) {
    return io_error("blob " + std::string(digest) + " is corrupt: " + std::to_string(size) +
                    " bytes, expected " + std::to_string(expected_size));
  }
  if (h.finish() != digest)
    return io_error("blob " + std::string(digest) + " is corrupt: digest mismatch");
  return {};
}

Result<std::string> ContentStore::read_verified(std::string_view digest, size_t max_bytes) const {
  if (!is_sha256_digest(digest)) return invalid_argument("malformed digest " + std::string(digest));
  std::filesystem::path p = path(digest);
  UniqueFd fd(::open(p.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return not_found("blob " + std::string(digest) + " missing: " + errno_text());
  std::string out;
  char buf[1 << 14];
  while (true) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read " + p.string() + ": " + errno_text());
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) return io_error("blob " + std::string(digest) + " is too large");
  }
  if (sha256_digest(out) != digest) {
    return io_error("blob " + std::string(digest) + " is corrupt: digest mismatch");
  }
  return out;
}

Status ContentStore::remove(std::string_view digest) const {
  if (!is_sha256_digest(digest)) return invalid_argument("malformed digest " + std::string(digest));
  if (::unlink(path(digest).c_str()) != 0 && errno != ENOENT) {
    return io_error("remove blob " + std::string(digest) + ": " + errno_text());
  }
  return {};
}

}  // namespace matchlock::image
