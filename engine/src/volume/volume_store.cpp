#include "volume/volume_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>

#include "core/paths.h"
#include "core/subprocess.h"
#include "core/unique_fd.h"

namespace matchlock::volume {
namespace {

constexpr size_t kMaxNameLength = 128;
constexpr const char* kSuffix = ".ext4";

Error errno_error(const std::string& what) {
  return io_error(what + ": " + std::strerror(errno));
}

// A temp file beside the volumes, unlinked unless kept. Its name starts with '.', which no
// volume name can, so `volume ls` never shows it.
class TempImage {
 public:
  static Result<TempImage> create(const std::filesystem::path& dir, std::string_view name) {
    std::random_device rd;
    for (int attempt = 0; attempt < 16; ++attempt) {
      char suffix[16];
      std::snprintf(suffix, sizeof suffix, "%08x", rd());
      auto path = dir / (".tmp-" + std::string(name) + "-" + suffix);
      UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
      if (fd) return TempImage(std::move(path), std::move(fd));
      if (errno != EEXIST) return errno_error("create " + path.string());
    }
    return io_error("cannot create a temp file in " + dir.string());
  }
  TempImage(TempImage&& other) noexcept
      : path_(std::exchange(other.path_, {})), fd_(std::move(other.fd_)) {}
  TempImage& operator=(TempImage&&) = delete;
  ~TempImage() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  const std::filesystem::path& path() const { return path_; }
  int fd() const { return fd_.get(); }
  void close_fd() { fd_.reset(); }

  // Links the finished image to `target` (fails if it exists: never replaces a volume).
  Status publish(const std::filesystem::path& target, std::string_view name) {
    if (fd_ && ::fsync(fd_.get()) != 0) return errno_error("fsync " + path_.string());
    if (::link(path_.c_str(), target.c_str()) != 0) {
      if (errno == EEXIST) return already_exists(name);
      return errno_error("link " + target.string());
    }
    ::unlink(path_.c_str());
    path_.clear();
    UniqueFd dir(::open(target.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (dir) ::fsync(dir.get());
    return {};
  }

  static Error already_exists(std::string_view name) {
    return Error(ErrorCode::kAlreadyExists, "named volume already exists: " + std::string(name));
  }

 private:
  TempImage(std::filesystem::path path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::filesystem::path path_;
  UniqueFd fd_;
};

Result<VolumeInfo> info_of(std::string_view name) {
  auto path = volume_path(name);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Error(ErrorCode::kNotFound, "named volume not found: " + std::string(name));
  }
  return VolumeInfo{std::string(name), static_cast<uint64_t>(st.st_size), path};
}

Status ensure_volumes_dir() {
  MATCHLOCK_TRY(ensure_private_dir(matchlock_home()));
  return ensure_private_dir(volumes_dir());
}

// The data extents of `in` written at the same offsets of `out`; holes stay holes.
Status copy_sparse(int in, int out, off_t size, const std::string& label) {
  std::vector<char> buf(1 << 20);
  off_t data = 0;
  while (data < size) {
    data = ::lseek(in, data, SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // only a hole is left
      return errno_error("seek " + label);
    }
    off_t hole = ::lseek(in, data, SEEK_HOLE);
    if (hole < 0) return errno_error("seek " + label);
    for (off_t at = data; at < hole;) {
      size_t want = static_cast<size_t>(std::min<off_t>(hole - at, static_cast<off_t>(buf.size())));
      ssize_t n = ::pread(in, buf.data(), want, at);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_error("read " + label);
      if (n == 0) return io_error("read " + label + ": the file shrank while being copied");
      for (ssize_t done = 0; done < n;) {
        ssize_t w = ::pwrite(out, buf.data() + done, static_cast<size_t>(n - done), at + done);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return errno_error("write the copy of " + label);
        done += w;
      }
      at += n;
    }
    data = hole;
  }
  if (::ftruncate(out, size) != 0) return errno_error("size the copy of " + label);
  return {};
}

}  // namespace

std::filesystem::path volumes_dir() {
  std::error_code ec;
  auto home = std::filesystem::absolute(matchlock_home(), ec);
  return (ec ? matchlock_home() : home) / "volumes";
}

Status validate_volume_name(std::string_view name) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  bool ok = !name.empty() && name.size() <= kMaxNameLength && alnum(name.front()) &&
            std::all_of(name.begin(), name.end(),
                        [&](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
  if (ok) return {};
  return invalid_argument("invalid volume name \"" + std::string(name) +
                          "\": must match ^[A-Za-z0-9][A-Za-z0-9_.-]*$ (at most " +
                          std::to_string(kMaxNameLength) + " characters)");
}

std::filesystem::path volume_path(std::string_view name) {
  return volumes_dir() / (std::string(name) + kSuffix);
}

std::string size_text(uint64_t size_bytes) {
  char text[64];
  std::snprintf(text, sizeof text, "%.1f MB", static_cast<double>(size_bytes) / (1024.0 * 1024.0));
  return text;
}

Result<VolumeInfo> create_volume(std::string_view name, uint64_t size_mib) {
  MATCHLOCK_TRY(validate_volume_name(name));
  if (size_mib < kMinSizeMib || size_mib > kMaxSizeMib) {
    return invalid_argument("invalid --size " + std::to_string(size_mib) + ": expected " +
                            std::to_string(kMinSizeMib) + ".." + std::to_string(kMaxSizeMib) +
                            " MB");
  }
  MATCHLOCK_TRY(ensure_volumes_dir());
  if (info_of(name).ok()) return TempImage::already_exists(name);  // before a slow mkfs
  auto tmp = TempImage::create(volumes_dir(), name);
  if (!tmp.ok()) return tmp.error();
  if (::ftruncate(tmp->fd(), static_cast<off_t>(size_mib) * 1024 * 1024) != 0) {
    return errno_error("size " + tmp->path().string());
  }
  tmp->close_fd();
  // A journal, unlike the sandbox's throwaway upper disk: a volume must survive a killed VM.
  MATCHLOCK_TRY(run_tool("mkfs.ext4", {"-q", "-F", "-m", "0", "-E",
                                       "lazy_itable_init=1,root_owner=0:0", tmp->path().string()}));
  UniqueFd fd(::open(tmp->path().c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::fsync(fd.get()) != 0) return errno_error("fsync " + tmp->path().string());
  MATCHLOCK_TRY(tmp->publish(volume_path(name), name));
  return info_of(name);
}

Result<std::vector<VolumeInfo>> list_volumes() {
  std::vector<VolumeInfo> out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(volumes_dir().c_str()), ::closedir);
  if (!dir) {
    if (errno == ENOENT) return out;
    return errno_error("open " + volumes_dir().string());
  }
  const std::string suffix = kSuffix;
  while (dirent* entry = ::readdir(dir.get())) {
    std::string file = entry->d_name;
    if (file.size() <= suffix.size() ||
        file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    std::string name = file.substr(0, file.size() - suffix.size());
    if (!validate_volume_name(name).ok()) continue;  // temp files and strangers
    if (auto info = info_of(name); info.ok()) out.push_back(std::move(*info));
  }
  std::sort(out.begin(), out.end(),
            [](const VolumeInfo& a, const VolumeInfo& b) { return a.name < b.name; });
  return out;
}

Result<VolumeInfo> find_volume(std::string_view name) {
  MATCHLOCK_TRY(validate_volume_name(name));
  return info_of(name);
}

Status remove_volume(std::string_view name) {
  auto info = find_volume(name);
  if (!info.ok()) return info.error();
  if (::unlink(info->path.c_str()) != 0) {
    if (errno == ENOENT) {
      return Error(ErrorCode::kNotFound, "named volume not found: " + std::string(name));
    }
    return errno_error("remove " + info->path.string());
  }
  return {};
}

Result<VolumeInfo> copy_volume(std::string_view src, std::string_view dst) {
  auto from = find_volume(src);
  if (!from.ok()) return from.error();
  MATCHLOCK_TRY(validate_volume_name(dst));
  if (info_of(dst).ok()) return TempImage::already_exists(dst);
  UniqueFd in(::open(from->path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return errno_error("open " + from->path.string());
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return errno_error("stat " + from->path.string());
  auto tmp = TempImage::create(volumes_dir(), dst);
  if (!tmp.ok()) return tmp.error();
  MATCHLOCK_TRY(copy_sparse(in.get(), tmp->fd(), st.st_size, from->path.string()));
  // Owner first: chown clears set-id bits, which the mode then restores. Another owner needs
  // privileges a user rarely has; the copy is then the caller's, which is what cp does too.
  (void)::fchown(tmp->fd(), st.st_uid, st.st_gid);
  if (::fchmod(tmp->fd(), st.st_mode & 07777) != 0) return errno_error("chmod the copy");
  const timespec times[2] = {st.st_atim, st.st_mtim};
  if (::futimens(tmp->fd(), times) != 0) return errno_error("set the copy's times");
  MATCHLOCK_TRY(tmp->publish(volume_path(dst), dst));
  return info_of(dst);
}

}  // namespace matchlock::volume
