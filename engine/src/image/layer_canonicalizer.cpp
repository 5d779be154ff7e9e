#include "image/layer_canonicalizer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "core/unique_fd.h"
#include "image/archive_util.h"
#include "image/content_store.h"
#include "image/layer_flattener.h"
#include "image/layer_tar_writer.h"

namespace matchlock::image {
namespace {

constexpr size_t kReadBuffer = 1 << 16;

// One filesystem object; several paths share one when the tar hardlinks them.
struct Node {
  TarEntry meta;  // path unused; kind never kHardlink
  bool whiteout = false;
  int64_t spool_offset = 0;
};

struct PathLess {
  bool operator()(const std::string& a, const std::string& b) const { return tar_path_less(a, b); }
};
using PathMap = std::map<std::string, std::shared_ptr<Node>, PathLess>;

// Feeds libarchive from the guest's fd, refusing to read past the input limit.
struct InputSource {
  int fd = -1;
  uint64_t read_bytes = 0;
  uint64_t max_bytes = 0;
  std::string error;
  std::vector<char> buf = std::vector<char>(kReadBuffer);

  static la_ssize_t on_read(archive* a, void* self, const void** out) {
    auto* s = static_cast<InputSource*>(self);
    while (true) {
      ssize_t n = ::read(s->fd, s->buf.data(), s->buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        s->error = std::string("read: ") + std::strerror(errno);
        archive_set_error(a, EIO, "%s", s->error.c_str());
        return -1;
      }
      s->read_bytes += static_cast<uint64_t>(n);
      if (s->read_bytes > s->max_bytes) {
        s->error = "layer tar exceeds " + std::to_string(s->max_bytes) + " bytes";
        archive_set_error(a, EFBIG, "%s", s->error.c_str());
        return -1;
      }
      *out = s->buf.data();
      return n;
    }
  }
};

std::string base_name(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

std::string in_quotes(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

class Canonicalizer {
 public:
  Canonicalizer(const LayerLimits& limits, int spool_fd) : limits_(limits), spool_fd_(spool_fd) {}

  Status read_all(archive* in);
  Result<TarDigest> write_all(int out_fd) const;

 private:
  Status read_entry(archive* in, archive_entry* e);
  Status read_node(archive* in, archive_entry* e, const std::string& rel, Node& node);
  Status bind_hardlink(const std::string& rel, const char* hardlink);
  Status check_name(std::string_view what, std::string_view name) const;
  Status check_metadata(archive_entry* e, const std::string& rel) const;
  Status check_whiteout(archive_entry* e, const std::string& rel, const std::string& name) const;
  Status spool_data(archive* in, const std::string& rel, Node& node);
  Status check_ancestors(const std::string& rel) const;

  const LayerLimits& limits_;
  int spool_fd_;
  int64_t spooled_ = 0;
  uint64_t entries_ = 0;
  PathMap paths_;
};

Status Canonicalizer::check_name(std::string_view what, std::string_view name) const {
  if (name.size() > limits_.max_name_bytes) {
    return invalid_argument(std::string(what) + " longer than " +
                            std::to_string(limits_.max_name_bytes) + " bytes");
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    if (end - start > limits_.max_component_bytes) {
      return invalid_argument(std::string(what) + " has a component longer than " +
                              std::to_string(limits_.max_component_bytes) + " bytes");
    }
    start = end + 1;
  }
  return {};
}

Status Canonicalizer::check_metadata(archive_entry* e, const std::string& rel) const {
  size_t bytes = rel.size();
  if (const char* l = archive_entry_symlink(e)) bytes += std::strlen(l);
  if (const char* l = archive_entry_hardlink(e)) bytes += std::strlen(l);
  size_t count = static_cast<size_t>(archive_entry_xattr_reset(e));
  if (count > limits_.max_xattrs) {
    return invalid_argument("entry " + in_quotes(rel) + " has more than " +
                            std::to_string(limits_.max_xattrs) + " xattrs");
  }
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    bytes += (name ? std::strlen(name) : 0) + size;
  }
  if (bytes > limits_.max_metadata_bytes) {
    return invalid_argument("entry " + in_quotes(rel) + " carries more than " +
                            std::to_string(limits_.max_metadata_bytes) + " bytes of metadata");
  }
  return {};
}

Status Canonicalizer::check_whiteout(archive_entry* e, const std::string& rel,
                                     const std::string& name) const {
  bool opaque = name == kOpaqueWhiteout;
  std::string_view hidden = std::string_view(name).substr(kWhiteoutPrefix.size());
  if (!opaque && (hidden.empty() || hidden.starts_with(kWhiteoutPrefix))) {
    return invalid_argument("malformed whiteout " + in_quotes(rel));
  }
  if (archive_entry_hardlink(e) || archive_entry_filetype(e) != AE_IFREG ||
      archive_entry_size(e) != 0) {
    return invalid_argument("whiteout " + in_quotes(rel) + " is not an empty regular file");
  }
  return {};
}

Status Canonicalizer::spool_data(archive* in, const std::string& rel, Node& node) {
  int64_t size = node.meta.size;
  if (size < 0 ||
      static_cast<uint64_t>(spooled_) + static_cast<uint64_t>(size) > limits_.max_total_bytes) {
    return invalid_argument("layer content exceeds " + std::to_string(limits_.max_total_bytes) +
                            " bytes (at " + in_quotes(rel) + ")");
  }
  node.spool_offset = spooled_;
  std::vector<char> buf(kReadBuffer);
  int64_t got = 0;
  while (true) {
    la_ssize_t n = archive_read_data(in, buf.data(), buf.size());
    if (n < 0) {
      return invalid_argument("corrupt layer tar at " + in_quotes(rel) + ": " +
                              archive_error_text(in));
    }
    if (n == 0) break;
    got += n;
    if (got > size)
      return invalid_argument("entry " + in_quotes(rel) + " has more data than its size");
    const char* p = buf.data();
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      ssize_t w = ::pwrite(spool_fd_, p, left, spooled_);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return io_error("spool layer content: " + std::string(std::strerror(errno)));
      p += w;
      left -= static_cast<size_t>(w);
      spooled_ += w;
    }
  }
  if (got != size) return invalid_argument("entry " + in_quotes(rel) + " is truncated");
  return {};
}

// The object a non-link entry describes: its kind, device numbers, link target, content
// (spooled) and xattrs.
Status Canonicalizer::read_node(archive* in, archive_entry* e, const std::string& rel, Node& node) {
  TarEntry& m = node.meta;
  mode_t type = archive_entry_filetype(e);
  switch (type) {
    case AE_IFREG:
      m.kind = TarEntryKind::kFile;
      m.size = archive_entry_size(e);
      MATCHLOCK_TRY(spool_data(in, rel, node));
      break;
    case AE_IFDIR:
      m.kind = TarEntryKind::kDirectory;
      break;
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (!target || !*target)
        return invalid_argument("symlink " + in_quotes(rel) + " has no target");
      MATCHLOCK_TRY(check_name("symlink target", target));
      m.kind = TarEntryKind::kSymlink;
      m.link = target;
      break;
    }
    case AE_IFCHR:
    case AE_IFBLK:
      m.kind = type == AE_IFCHR ? TarEntryKind::kCharDevice : TarEntryKind::kBlockDevice;
      m.dev_major = static_cast<uint32_t>(archive_entry_rdevmajor(e));
      m.dev_minor = static_cast<uint32_t>(archive_entry_rdevminor(e));
      break;
    case AE_IFIFO:
      m.kind = TarEntryKind::kFifo;
      break;
    default:
      return invalid_argument("entry " + in_quotes(rel) + " has an unsupported type");
  }
  // A pax header may carry an xattr twice (SCHILY.xattr and LIBARCHIVE.xattr): the last wins.
  std::map<std::string, std::string> xattrs;
  const char* xname = nullptr;
  const void* xvalue = nullptr;
  size_t xsize = 0;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &xname, &xvalue, &xsize) == ARCHIVE_OK) {
    if (!xname || !*xname) return invalid_argument("entry " + in_quotes(rel) + " has a bad xattr");
    xattrs[xname] = std::string(static_cast<const char*>(xvalue), xsize);
  }
  m.xattrs.assign(xattrs.begin(), xattrs.end());
  return {};
}

Status Canonicalizer::bind_hardlink(const std::string& rel, const char* hardlink) {
  MATCHLOCK_TRY(check_name("hardlink target", hardlink));
  auto target = confine_entry_path(hardlink);
  if (!target || target->empty()) {
    return invalid_argument("hardlink " + in_quotes(rel) + " points outside the root");
  }
  auto it = paths_.find(*target);
  if (it == paths_.end() || it->second->meta.kind == TarEntryKind::kDirectory ||
      it->second->whiteout) {
    return invalid_argument("hardlink " + in_quotes(rel) + " -> " + in_quotes(*target) +
                            ": not an earlier file of this layer");
  }
  paths_[rel] = it->second;  // the same object under one more name
  return {};
}

// One tar header and its data: validate, then bind the path to a node (the last entry wins).
Status Canonicalizer::read_entry(archive* in, archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (!raw) return invalid_argument("layer entry has an unreadable name");
  MATCHLOCK_TRY(check_name("entry name", raw));
  auto rel = confine_entry_path(raw);
  if (!rel) return invalid_argument("layer entry " + in_quotes(raw) + " escapes the root");
  mode_t type = archive_entry_filetype(e);
  const char* hardlink = archive_entry_hardlink(e);
  if (rel->empty()) {  // "./": the root directory itself, which a layer does not carry
    if (hardlink || type != AE_IFDIR) return invalid_argument("layer root is not a directory");
    return {};
  }
  MATCHLOCK_TRY(check_metadata(e, *rel));
  std::string name = base_name(*rel);

  if (hardlink) {
    // check_whiteout refuses it: a whiteout is never a link.
    if (name.starts_with(kWhiteoutPrefix)) return check_whiteout(e, *rel, name);
    return bind_hardlink(*rel, hardlink);
  }

  auto node = std::make_shared<Node>();
  TarEntry& m = node->meta;
  m.mode = archive_entry_perm(e) & 07777;
  m.uid = static_cast<uint32_t>(archive_entry_uid(e));
  m.gid = static_cast<uint32_t>(archive_entry_gid(e));
  m.mtime = archive_entry_mtime(e);
  if (name.starts_with(kWhiteoutPrefix)) {
    MATCHLOCK_TRY(check_whiteout(e, *rel, name));
    node->whiteout = true;
    paths_[*rel] = std::move(node);
    return {};
  }
  MATCHLOCK_TRY(read_node(in, e, *rel, *node));
  paths_[*rel] = std::move(node);
  return {};
}

Status Canonicalizer::read_all(archive* in) {
  archive_entry* e = nullptr;
  while (true) {
    int r = archive_read_next_header(in, &e);
    if (r == ARCHIVE_EOF) return {};
    // Warnings too: libarchive warns when it skips an oversized or malformed pax record.
    if (r != ARCHIVE_OK) return invalid_argument("corrupt layer tar: " + archive_error_text(in));
    if (++entries_ > limits_.max_entries) {
      return invalid_argument("layer tar has more than " + std::to_string(limits_.max_entries) +
                              " entries");
    }
    MATCHLOCK_TRY(read_entry(in, e));
  }
}

// A layer never puts anything below one of its own non-directories (a symlink in particular:
// applying it would write through the link).
Status Canonicalizer::check_ancestors(const std::string& rel) const {
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
    auto it = paths_.find(rel.substr(0, slash));
    if (it != paths_.end() &&
        (it->second->meta.kind != TarEntryKind::kDirectory || it->second->whiteout)) {
      return invalid_argument("entry " + in_quotes(rel) + " is below a non-directory " +
                              in_quotes(it->first));
    }
  }
  return {};
}

Result<TarDigest> Canonicalizer::write_all(int out_fd) const {
  auto writer = LayerTarWriter::open(out_fd);
  if (!writer) return writer.error();
  std::map<const Node*, std::string> first_path;  // hardlinked nodes: the path holding the data
  for (const auto& [rel, node] : paths_) {
    MATCHLOCK_TRY(check_ancestors(rel));
    if (node->whiteout) {
      TarEntry w;
      w.path = rel;
      w.mode = 0;
      MATCHLOCK_TRY(writer->add(w));
      continue;
    }
    TarEntry entry = node->meta;
    entry.path = rel;
    if (entry.kind != TarEntryKind::kDirectory) {
      auto [it, first] = first_path.emplace(node.get(), rel);
      if (!first) {
        entry.kind = TarEntryKind::kHardlink;
        entry.link = it->second;
        entry.size = 0;
        MATCHLOCK_TRY(writer->add(entry));
        continue;
      }
    }
    if (entry.kind == TarEntryKind::kFile) {
      MATCHLOCK_TRY(writer->add_file(entry, spool_fd_, node->spool_offset));
    } else {
      MATCHLOCK_TRY(writer->add(entry));
    }
  }
  return writer->finish();
}

Result<CanonicalLayer> run(int in_fd, const std::filesystem::path& out_tar,
                           const LayerLimits& limits) {
  auto spool = make_temp_file(out_tar.parent_path(), ".layer-spool-");
  if (!spool) return spool.error();
  ::unlink(spool->second.c_str());  // anonymous: gone with its fd, whatever happens
  Canonicalizer canon(limits, spool->first.get());

  ScopedUtf8Locale utf8;
  ArchiveReader in(archive_read_new());
  if (!in) return io_error("libarchive: out of memory");
  archive_read_support_format_tar(in.get());
  archive_read_support_format_empty(in.get());  // a RUN that changed nothing may send 0 bytes
  InputSource source;
  source.fd = in_fd;
  source.max_bytes = limits.max_input_bytes;
  if (archive_read_open(in.get(), &source, nullptr, &InputSource::on_read, nullptr) != ARCHIVE_OK) {
    return invalid_argument("layer tar: " + archive_error_text(in.get()));
  }
  Status read = canon.read_all(in.get());
  if (!read) {
    if (!source.error.empty()) return invalid_argument("layer tar: " + source.error);
    return read.error();
  }

  UniqueFd out(::open(out_tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!out) return io_error("create " + out_tar.string() + ": " + std::strerror(errno));
  auto digest = canon.write_all(out.get());
  if (!digest) return digest.error();
  return CanonicalLayer{digest->diff_id, digest->size, digest->entries};
}

}  // namespace

Result<CanonicalLayer> canonicalize_layer(int in_fd, const std::filesystem::path& out_tar,
                                          const LayerLimits& limits) {
  auto result = run(in_fd, out_tar, limits);
  if (!result) {
    std::error_code ec;
    std::filesystem::remove(out_tar, ec);
  }
  return result;
}

}  // namespace matchlock::image
