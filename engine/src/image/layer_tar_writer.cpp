#include "image/layer_tar_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <string_view>

#include "image/archive_util.h"
#include "image/layer_flattener.h"

namespace matchlock::image {
namespace {

// libarchive's pax writer percent-encodes an xattr name's bytes outside '!'..'~' and its '%' and
// '=' even in SCHILY.xattr records, which readers take literally: such a name would come back
// altered (and the layer's diff_id would change each time it is rewritten). Refused instead.
bool xattr_name_survives_pax(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < '!' || byte > '~' || c == '%' || c == '=') return false;
  }
  return true;
}

constexpr size_t kCopyBuffer = 1 << 16;

struct EntryFree {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

mode_t archive_type(TarEntryKind kind) {
  switch (kind) {
    case TarEntryKind::kDirectory:
      return AE_IFDIR;
    case TarEntryKind::kSymlink:
      return AE_IFLNK;
    case TarEntryKind::kCharDevice:
      return AE_IFCHR;
    case TarEntryKind::kBlockDevice:
      return AE_IFBLK;
    case TarEntryKind::kFifo:
      return AE_IFIFO;
    case TarEntryKind::kFile:
    case TarEntryKind::kHardlink:
      return AE_IFREG;
  }
  return AE_IFREG;
}

}  // namespace

bool tar_path_less(std::string_view a, std::string_view b) {
  // '/' sorts before every other byte, so a directory's subtree stays together.
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    if (a[i] == b[i]) continue;
    if (a[i] == '/') return true;
    if (b[i] == '/') return false;
    return static_cast<unsigned char>(a[i]) < static_cast<unsigned char>(b[i]);
  }
  return a.size() < b.size();
}

std::string whiteout_path(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return std::string(kWhiteoutPrefix) + std::string(path);
  return std::string(path.substr(0, slash + 1)) + std::string(kWhiteoutPrefix) +
         std::string(path.substr(slash + 1));
}

struct LayerTarWriter::State {
  ArchiveWriter archive;
  int fd = -1;
  Sha256 hash;
  int64_t size = 0;
  uint64_t entries = 0;
  std::string last_path;
  std::set<std::string> linkable;  // non-directory paths written so far (hardlink targets)
  std::string write_error;         // errno text of a failed write(), for the error message
  bool finished = false;
  bool abandoned = false;

  // A writer dropped before finish() must not append a trailer to a half-written tar, and
  // libarchive's free() would otherwise call back into members already destroyed.
  ~State() {
    abandoned = true;
    archive.reset();
  }

  static la_ssize_t on_write(::archive*, void* self, const void* buf, size_t len) {
    auto* s = static_cast<State*>(self);
    if (s->abandoned) return -1;
    const char* p = static_cast<const char*>(buf);
    size_t left = len;
    while (left > 0) {
      ssize_t n = ::write(s->fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        s->write_error = std::strerror(errno);
        return -1;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    s->hash.update(buf, len);
    s->size += static_cast<int64_t>(len);
    return static_cast<la_ssize_t>(len);
  }

  Error archive_failure(const std::string& what) const {
    if (!write_error.empty()) return io_error(what + ": write: " + write_error);
    return io_error(what + ": " + archive_error_text(archive.get()));
  }
};

LayerTarWriter::LayerTarWriter(std::unique_ptr<State> s) : s_(std::move(s)) {}
LayerTarWriter::LayerTarWriter(LayerTarWriter&&) noexcept = default;
LayerTarWriter& LayerTarWriter::operator=(LayerTarWriter&&) noexcept = default;
LayerTarWriter::~LayerTarWriter() = default;

Result<LayerTarWriter> LayerTarWriter::open(int fd) {
  auto s = std::make_unique<State>();
  s->fd = fd;
  s->archive.reset(archive_write_new());
  archive* a = s->archive.get();
  if (!a) return io_error("libarchive: out of memory");
  if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
      archive_write_set_format_option(a, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK) {
    return io_error("layer tar: " + archive_error_text(a));
  }
  if (archive_write_open(a, s.get(), nullptr, &State::on_write, nullptr) != ARCHIVE_OK) {
    return s->archive_failure("layer tar open");
  }
  return LayerTarWriter(std::move(s));
}

Status LayerTarWriter::write_header(const TarEntry& entry) {
  if (s_->finished) return invalid_argument("layer tar: entry added after finish");
  auto clean = confine_entry_path(entry.path);
  if (!clean || clean->empty() || *clean != entry.path) {
    return invalid_argument("layer tar: bad entry path \"" + entry.path + "\"");
  }
  if (s_->entries > 0 && !tar_path_less(s_->last_path, entry.path)) {
    return invalid_argument("layer tar: entry \"" + entry.path + "\" is out of order (after \"" +
                            s_->last_path + "\")");
  }
  if (entry.kind == TarEntryKind::kHardlink && !s_->linkable.count(entry.link)) {
    return invalid_argument("layer tar: hardlink \"" + entry.path + "\" names \"" + entry.link +
                            "\", which is not an earlier non-directory entry");
  }
  if (entry.kind == TarEntryKind::kSymlink && entry.link.empty()) {
    return invalid_argument("layer tar: symlink \"" + entry.path + "\" has no target");
  }
  if (entry.size < 0 || (entry.kind != TarEntryKind::kFile && entry.size != 0)) {
    return invalid_argument("layer tar: entry \"" + entry.path + "\" has a bad size");
  }

  ScopedUtf8Locale utf8;  // pax names are UTF-8; conversion goes through the thread's locale
  std::unique_ptr<archive_entry, EntryFree> e(archive_entry_new());
  if (!e) return io_error("libarchive: out of memory");
  archive_entry_set_pathname(e.get(), entry.path.c_str());
  archive_entry_set_filetype(e.get(), archive_type(entry.kind));
  archive_entry_set_perm(e.get(), entry.mode & 07777);
  archive_entry_set_uid(e.get(), entry.uid);
  archive_entry_set_gid(e.get(), entry.gid);
  archive_entry_set_uname(e.get(), "");
  archive_entry_set_gname(e.get(), "");
  archive_entry_set_mtime(e.get(), entry.mtime, 0);
  archive_entry_set_size(e.get(), entry.kind == TarEntryKind::kFile ? entry.size : 0);
  if (entry.kind == TarEntryKind::kSymlink) archive_entry_set_symlink(e.get(), entry.link.c_str());
  if (entry.kind == TarEntryKind::kHardlink) {
    archive_entry_set_hardlink(e.get(), entry.link.c_str());
  }
  if (entry.kind == TarEntryKind::kCharDevice || entry.kind == TarEntryKind::kBlockDevice) {
    archive_entry_set_rdevmajor(e.get(), entry.dev_major);
    archive_entry_set_rdevminor(e.get(), entry.dev_minor);
  }
  auto xattrs = entry.xattrs;
  std::sort(xattrs.begin(), xattrs.end());
  for (size_t i = 0; i < xattrs.size(); ++i) {
    if (!xattr_name_survives_pax(xattrs[i].first)) {
      return invalid_argument("layer tar: entry \"" + entry.path +
                              "\" has an xattr name a pax header cannot carry (empty, or a "
                              "space, control, non-ASCII, '%' or '=' byte)");
    }
    if (i > 0 && xattrs[i].first == xattrs[i - 1].first) {
      return invalid_argument("layer tar: entry \"" + entry.path + "\" has a duplicate xattr");
    }
    archive_entry_xattr_add_entry(e.get(), xattrs[i].first.c_str(), xattrs[i].second.data(),
                                  xattrs[i].second.size());
  }
  if (archive_write_header(s_->archive.get(), e.get()) < ARCHIVE_WARN) {
    return s_->archive_failure("layer tar \"" + entry.path + "\"");
  }
  s_->last_path = entry.path;
  ++s_->entries;
  if (entry.kind != TarEntryKind::kDirectory) s_->linkable.insert(entry.path);
  return {};
}

Status LayerTarWriter::write_data(const void* data, size_t len) {
  la_ssize_t n = archive_write_data(s_->archive.get(), data, len);
  if (n < 0 || static_cast<size_t>(n) != len) {
    return s_->archive_failure("layer tar \"" + s_->last_path + "\" data");
  }
  return {};
}

Status LayerTarWriter::add(const TarEntry& entry) {
  if (entry.kind == TarEntryKind::kFile && entry.size != 0) {
    return invalid_argument("layer tar: file \"" + entry.path + "\" needs its content");
  }
  return write_header(entry);
}

Status LayerTarWriter::add_file(const TarEntry& entry, int fd, std::optional<int64_t> offset,
                                Sha256* content_hash) {
  if (entry.kind != TarEntryKind::kFile) {
    return invalid_argument("layer tar: \"" + entry.path + "\" is not a file");
  }
  MATCHLOCK_TRY(write_header(entry));
  std::vector<char> buf(kCopyBuffer);
  int64_t left = entry.size;
  int64_t pos = offset.value_or(0);
  while (left > 0) {
    size_t want = static_cast<size_t>(std::min<int64_t>(left, static_cast<int64_t>(buf.size())));
    ssize_t n = offset ? ::pread(fd, buf.data(), want, pos) : ::read(fd, buf.data(), want);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("layer tar: read \"" + entry.path + "\": " + std::strerror(errno));
    }
    if (n == 0) {
      return io_error("layer tar: \"" + entry.path + "\" ended " + std::to_string(left) +
                      " bytes early (changed while read?)");
    }
    if (content_hash) content_hash->update(buf.data(), static_cast<size_t>(n));
    MATCHLOCK_TRY(write_data(buf.data(), static_cast<size_t>(n)));
    left -= n;
    pos += n;
  }
  return {};
}

Status LayerTarWriter::add_file(const TarEntry& entry, std::string_view content) {
  if (entry.kind != TarEntryKind::kFile || entry.size != static_cast<int64_t>(content.size())) {
    return invalid_argument("layer tar: \"" + entry.path + "\" size does not match its content");
  }
  MATCHLOCK_TRY(write_header(entry));
  if (!content.empty()) MATCHLOCK_TRY(write_data(content.data(), content.size()));
  return {};
}

Status LayerTarWriter::add_whiteout(std::string_view path) {
  TarEntry e;
  e.path = whiteout_path(path);
  e.mode = 0;
  return add(e);
}

Status LayerTarWriter::add_opaque_marker(std::string_view dir) {
  TarEntry e;
  e.path = dir.empty() ? std::string(kOpaqueWhiteout)
                       : std::string(dir) + "/" + std::string(kOpaqueWhiteout);
  e.mode = 0;
  return add(e);
}

Result<TarDigest> LayerTarWriter::finish() {
  if (s_->finished) return invalid_argument("layer tar: finished twice");
  s_->finished = true;
  if (archive_write_close(s_->archive.get()) != ARCHIVE_OK) {
    return s_->archive_failure("layer tar close");
  }
  TarDigest d;
  d.diff_id = s_->hash.finish();
  d.size = s_->size;
  d.entries = s_->entries;
  return d;
}

}  // namespace matchlock::image
