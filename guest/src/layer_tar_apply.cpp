#include "layer_tar_apply.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <vector>

#include "core/unique_fd.h"
#include "file_ops.h"
#include "tar_format.h"

namespace matchlock::guest_agent {
namespace {

// Bounds on what one hostile entry can make us hold in memory.
constexpr uint64_t kMaxPaxHeader = 1 << 20;
constexpr uint64_t kMaxLongName = 64 * 1024;
constexpr size_t kMaxNameComponents = 1024;
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

using Parts = std::vector<std::string>;

std::string errno_text(int error) {
  return std::strerror(error);
}

// Exactly-n reads from a blocking fd; EOF inside an entry is a truncated tar.
class TarInput {
 public:
  explicit TarInput(int fd) : fd_(fd) {}

  // false: clean end of input before the block started.
  Result<bool> read_block(std::string& block) {
    block.resize(tar::kBlockSize);
    auto n = read_some(block.data(), block.size());
    if (!n.ok()) return n.error();
    if (*n == 0) return false;
    if (*n != block.size()) return invalid_argument("truncated tar (in a header)");
    return true;
  }

  // Calls `sink` with the entry's `size` data bytes in chunks, then skips the padding.
  template <typename Sink>
  Status read_data(uint64_t size, Sink&& sink) {
    char chunk[64 * 1024];
    uint64_t left = size + tar::padding_for(size);
    uint64_t data_left = size;
    while (left > 0) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(left, sizeof chunk));
      auto n = read_some(chunk, want);
      if (!n.ok()) return n.error();
      if (*n != want) return invalid_argument("truncated tar (in an entry's data)");
      size_t data = static_cast<size_t>(std::min<uint64_t>(data_left, want));
      if (data > 0) MATCHLOCK_TRY(sink(std::string_view(chunk, data)));
      data_left -= data;
      left -= want;
    }
    return {};
  }

  Result<std::string> read_small(uint64_t size, uint64_t limit, const char* what) {
    if (size > limit) return invalid_argument(std::string("tar: ") + what + " is too large");
    std::string out;
    MATCHLOCK_TRY(read_data(size, [&](std::string_view bytes) {
      out.append(bytes);
      return Status();
    }));
    return out;
  }

 private:
  // Fills as much of buf as the input has (short only at EOF).
  Result<size_t> read_some(char* buf, size_t size) {
    size_t done = 0;
    while (done < size) {
      ssize_t n = ::read(fd_, buf + done, size - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("read tar: " + errno_text(errno));
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  int fd_;
};

// "./a//b/" -> {"a","b"}; refuses absolute names, "..", NUL and over-long names.
Result<Parts> clean_name(std::string_view name) {
  if (name.find('\0') != std::string_view::npos) return invalid_argument("tar entry name has NUL");
  if (!name.empty() && name.front() == '/') {
    return invalid_argument("tar entry \"" + std::string(name) + "\" is an absolute path");
  }
  Parts parts;
  size_t pos = 0;
  while (pos <= name.size()) {
    size_t slash = std::min(name.find('/', pos), name.size());
    std::string_view part = name.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      return invalid_argument("tar entry \"" + std::string(name) + "\" has a .. component");
    }
    parts.emplace_back(part);
  }
  if (parts.size() > kMaxNameComponents) return invalid_argument("tar entry name is too deep");
  return parts;
}

std::string joined(const Parts& parts) {
  std::string out;
  for (const auto& part : parts) out += (out.empty() ? "" : "/") + part;
  return out.empty() ? "." : out;
}

// The layer being written: every path is resolved from its root one component at a time.
class LayerWriter {
 public:
  explicit LayerWriter(UniqueFd root) : root_(std::move(root)) {}

  Status apply(const tar::Entry& entry, TarInput& input);
  // Directory mtimes last: creating their entries changed them.
  Status finish();

 private:
  Result<int> open_parent(const Parts& parts);
  Status remove_existing(int dir, const std::string& name, bool keep_directory);
  Status set_metadata(int dir, const std::string& name, const tar::Entry& entry);
  Status write_file(int dir, const std::string& name, const tar::Entry& entry, TarInput& input);
  Status make_directory(int dir, const Parts& parts, const tar::Entry& entry);
  Status make_whiteout(int dir, const std::string& target);

  UniqueFd root_;
  // The last parent opened, reused for its siblings (forgotten whenever something is removed).
  Parts cached_parent_;
  UniqueFd cached_fd_;
  bool cache_valid_ = false;
  std::vector<std::pair<Parts, int64_t>> directory_times_;
};

Error entry_error(const Parts& parts, const std::string& what, int error) {
  return io_error(what + " " + joined(parts) + ": " + errno_text(error));
}

std::string proc_path(int dir, const std::string& name) {
  return "/proc/self/fd/" + std::to_string(dir) + "/" + name;
}

Result<int> LayerWriter::open_parent(const Parts& parts) {
  Parts parent(parts.begin(), parts.end() - 1);
  if (parent.empty()) return root_.get();
  if (cache_valid_ && parent == cached_parent_) return cached_fd_.get();
  UniqueFd current;
  Parts walked;
  for (const auto& part : parent) {
    const int at = current ? current.get() : root_.get();
    walked.push_back(part);
    constexpr int kFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    UniqueFd next(::openat(at, part.c_str(), kFlags));
    if (!next && errno == ENOENT) {
      // Docker creates missing parents too; root-owned 0755 like its MkdirAll.
      if (::mkdirat(at, part.c_str(), 0755) != 0 && errno != EEXIST) {
        return entry_error(walked, "mkdir", errno);
      }
      next.reset(::openat(at, part.c_str(), kFlags));
    }
    if (!next) {
      int error = errno;
      if (error == ELOOP || error == ENOTDIR) {
        return invalid_argument("tar entry " + joined(parts) + ": parent " + joined(walked) +
                                " is not a directory (symlinks are never followed)");
      }
      return entry_error(walked, "open", error);
    }
    current = std::move(next);
  }
  cached_parent_ = std::move(parent);
  cached_fd_ = std::move(current);
  cache_valid_ = true;
  return cached_fd_.get();
}

Status LayerWriter::remove_existing(int dir, const std::string& name, bool keep_directory) {
  struct stat st {};
  if (::fstatat(dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status() : io_error("stat " + name + ": " + errno_text(errno));
  }
  if (keep_directory && S_ISDIR(st.st_mode)) return {};
  cache_valid_ = false;
  if (auto failed = remove_path(proc_path(dir, name), true)) {
    return io_error(failed->message());
  }
  return {};
}

Status LayerWriter::set_metadata(int dir, const std::string& name, const tar::Entry& entry) {
  if (::fchownat(dir, name.c_str(), static_cast<uid_t>(entry.uid), static_cast<gid_t>(entry.gid),
                 AT_SYMLINK_NOFOLLOW) != 0) {
    return io_error("chown " + name + ": " + errno_text(errno));
  }
  const bool symlink = entry.type == tar::kSymlink;
  // After chown, which clears setuid and setgid. Symlinks have no mode of their own.
  if (!symlink && ::fchmodat(dir, name.c_str(), entry.mode & 07777, 0) != 0) {
    return io_error("chmod " + name + ": " + errno_text(errno));
  }
  const std::string path = proc_path(dir, name);
  for (const auto& [key, value] : entry.xattrs) {
    if (key.rfind(kOverlayXattrPrefix, 0) == 0) continue;  // only whiteouts make those
    if (::lsetxattr(path.c_str(), key.c_str(), value.data(), value.size(), 0) != 0) {
      return io_error("set xattr " + key + " on " + name + ": " + errno_text(errno));
    }
  }
  if (entry.type == tar::kDirectory) return {};  // in finish()
  timespec times[2] = {{entry.mtime, 0}, {entry.mtime, 0}};
  if (::utimensat(dir, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
    return io_error("set mtime of " + name + ": " + errno_text(errno));
  }
  return {};
}

Status LayerWriter::write_file(int dir, const std::string& name, const tar::Entry& entry,
                               TarInput& input) {
  UniqueFd file(
      ::openat(dir, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!file) return io_error("create " + name + ": " + errno_text(errno));
  MATCHLOCK_TRY(input.read_data(entry.size, [&](std::string_view bytes) -> Status {
    while (!bytes.empty()) {
      ssize_t n = ::write(file.get(), bytes.data(), bytes.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return io_error("write " + name + ": " + errno_text(errno));
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }));
  return set_metadata(dir, name, entry);
}

Status LayerWriter::make_directory(int dir, const Parts& parts, const tar::Entry& entry) {
  if (parts.empty()) {
    // "./": the layer root itself (the root of the merged tree).
    if (::fchown(root_.get(), static_cast<uid_t>(entry.uid), static_cast<gid_t>(entry.gid)) != 0 ||
        ::fchmod(root_.get(), entry.mode & 07777) != 0) {
      return io_error("set the layer root's owner and mode: " + errno_text(errno));
    }
    directory_times_.emplace_back(parts, entry.mtime);
    return {};
  }
  const std::string& name = parts.back();
  MATCHLOCK_TRY(remove_existing(dir, name, true));
  if (::mkdirat(dir, name.c_str(), 0700) != 0 && errno != EEXIST) {
    return entry_error(parts, "mkdir", errno);
  }
  MATCHLOCK_TRY(set_metadata(dir, name, entry));
  directory_times_.emplace_back(parts, entry.mtime);
  return {};
}

Status LayerWriter::make_whiteout(int dir, const std::string& target) {
  if (target.empty() || target == "." || target == "..") {
    return invalid_argument("tar: bad whiteout for \"" + target + "\"");
  }
  MATCHLOCK_TRY(remove_existing(dir, target, false));
  if (::mknodat(dir, target.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
    return io_error("whiteout " + target + ": " + errno_text(errno));
  }
  return {};
}

Status LayerWriter::apply(const tar::Entry& entry, TarInput& input) {
  auto parts = clean_name(entry.name);
  if (!parts.ok()) return parts.error();
  if (entry.type == tar::kDirectory) {
    if (parts->empty()) return make_directory(root_.get(), *parts, entry);
  } else if (parts->empty()) {
    return invalid_argument("tar entry \"" + entry.name + "\" would replace the layer root");
  }
  auto dir = open_parent(*parts);
  if (!dir.ok()) return dir.error();
  const std::string& name = parts->back();
  auto skip_data = [&] {
    return input.read_data(entry.size, [](std::string_view) { return Status(); });
  };

  switch (entry.type) {
    case tar::kRegular:
    case tar::kRegularOld:
    case tar::kContiguous:
      if (name == tar::kOpaqueMarker) {
        MATCHLOCK_TRY(skip_data());
        if (::fsetxattr(*dir, "trusted.overlay.opaque", "y", 1, 0) != 0) {
          return entry_error(*parts, "mark opaque", errno);
        }
        return {};
      }
      if (name.rfind(tar::kWhiteoutPrefix, 0) == 0) {
        MATCHLOCK_TRY(skip_data());
        return make_whiteout(*dir, name.substr(tar::kWhiteoutPrefix.size()));
      }
      MATCHLOCK_TRY(remove_existing(*dir, name, false));
      return write_file(*dir, name, entry, input);
    case tar::kDirectory:
      MATCHLOCK_TRY(skip_data());
      return make_directory(*dir, *parts, entry);
    case tar::kSymlink:
      MATCHLOCK_TRY(skip_data());
      MATCHLOCK_TRY(remove_existing(*dir, name, false));
      if (::symlinkat(entry.link_name.c_str(), *dir, name.c_str()) != 0) {
        return entry_error(*parts, "symlink", errno);
      }
      return set_metadata(*dir, name, entry);
    case tar::kHardLink: {
      MATCHLOCK_TRY(skip_data());
      auto target = clean_name(entry.link_name);
      if (!target.ok()) return target.error().with_context("hard link " + joined(*parts));
      if (target->empty()) return invalid_argument("hard link " + joined(*parts) + " to the root");
      MATCHLOCK_TRY(remove_existing(*dir, name, false));
      // The target's parent walk may replace the cached descriptor: hold our own.
      UniqueFd link_dir(::fcntl(*dir, F_DUPFD_CLOEXEC, 3));
      if (!link_dir) return entry_error(*parts, "open", errno);
      auto target_dir = open_parent(*target);
      if (!target_dir.ok()) return target_dir.error();
      // Flags 0: a symlink target is linked itself, never followed.
      if (::linkat(*target_dir, target->back().c_str(), link_dir.get(), name.c_str(), 0) != 0) {
        return io_error("hard link " + joined(*parts) + " to " + joined(*target) + ": " +
                        errno_text(errno));
      }
      return {};
    }
    case tar::kCharDevice:
    case tar::kBlockDevice:
    case tar::kFifo: {
      MATCHLOCK_TRY(skip_data());
      MATCHLOCK_TRY(remove_existing(*dir, name, false));
      mode_t type = entry.type == tar::kCharDevice    ? S_IFCHR
                    : entry.type == tar::kBlockDevice ? S_IFBLK
                                                      : S_IFIFO;
      dev_t device = type == S_IFIFO ? 0 : makedev(entry.dev_major, entry.dev_minor);
      if (::mknodat(*dir, name.c_str(), type | 0600, device) != 0) {
        return entry_error(*parts, "mknod", errno);
      }
      return set_metadata(*dir, name, entry);
    }
    default:
      return invalid_argument("tar entry " + joined(*parts) + ": unsupported type '" +
                              std::string(1, entry.type) + "'");
  }
}

Status LayerWriter::finish() {
  cache_valid_ = false;
  for (auto it = directory_times_.rbegin(); it != directory_times_.rend(); ++it) {
    const Parts& parts = it->first;
    timespec times[2] = {{it->second, 0}, {it->second, 0}};
    if (parts.empty()) {
      if (::futimens(root_.get(), times) != 0) return entry_error(parts, "set mtime of", errno);
      continue;
    }
    auto dir = open_parent(parts);
    // Gone or replaced by a later entry: nothing to date.
    if (!dir.ok()) continue;
    if (::utimensat(*dir, parts.back().c_str(), times, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno != ENOENT) {
      return entry_error(parts, "set mtime of", errno);
    }
  }
  return {};
}

// Reads entries until the end-of-archive block (or a clean end of input), folding pax and GNU
// long-name records into the entry they precede.
Status extract(TarInput& input, LayerWriter& writer) {
  std::string block;
  std::string pax;
  std::optional<std::string> long_name, long_link;
  while (true) {
    auto more = input.read_block(block);
    if (!more.ok()) return more.error();
    if (!*more) break;
    auto decoded = tar::decode_header(block);
    if (!decoded.ok()) return decoded.error();
    if (!decoded->has_value()) break;
    tar::Entry entry = std::move(**decoded);
    if (entry.type == tar::kPaxExtended || entry.type == tar::kPaxGlobal ||
        entry.type == tar::kGnuLongName || entry.type == tar::kGnuLongLink) {
      const bool is_pax = entry.type == tar::kPaxExtended || entry.type == tar::kPaxGlobal;
      auto body = input.read_small(entry.size, is_pax ? kMaxPaxHeader : kMaxLongName,
                                   is_pax ? "pax header" : "GNU long name");
      if (!body.ok()) return body.error();
      if (entry.type == tar::kPaxExtended) pax += *body;
      // Global pax headers only carry defaults docker layers never rely on.
      if (entry.type == tar::kGnuLongName || entry.type == tar::kGnuLongLink) {
        std::string text = body->substr(0, body->find('\0'));
        (entry.type == tar::kGnuLongName ? long_name : long_link) = std::move(text);
      }
      continue;
    }
    MATCHLOCK_TRY(tar::apply_pax_records(pax, entry));
    if (long_name) entry.name = std::move(*long_name);
    if (long_link) entry.link_name = std::move(*long_link);
    pax.clear();
    long_name.reset();
    long_link.reset();
    MATCHLOCK_TRY(writer.apply(entry, input));
  }
  return writer.finish();
}

}  // namespace

Status apply_layer_tar(int in_fd, const std::string& layers_dir, const std::string& id) {
  UniqueFd layers(::open(layers_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!layers) return io_error("open " + layers_dir + ": " + errno_text(errno));
  if (::mkdirat(layers.get(), id.c_str(), 0755) != 0) {
    if (errno == EEXIST) return invalid_argument("layer " + id + " already exists");
    return io_error("create layer " + id + ": " + errno_text(errno));
  }
  UniqueFd root(
      ::openat(layers.get(), id.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  Status applied = root ? Status() : io_error("open layer " + id + ": " + errno_text(errno));
  if (applied.ok()) {
    LayerWriter writer(std::move(root));
    TarInput input(in_fd);
    applied = extract(input, writer);
  }
  if (!applied.ok()) (void)remove_path(layers_dir + "/" + id, true);
  return applied;
}

}  // namespace matchlock::guest_agent
