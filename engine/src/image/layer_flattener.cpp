#include "image/layer_flattener.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "core/printable.h"
#include "core/remove_tree.h"
#include "image/archive_util.h"

namespace matchlock::image {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

// Flags from the design: no OWNER (rootless; ownership is recorded and fixed in the ext4 image).
// NOABSOLUTEPATHS is not set because we hand libarchive absolute staging paths; the same
// confinement is enforced by confine_entry_path() before a name ever reaches libarchive.
constexpr int kExtractFlags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_ACL |
                              ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_FFLAGS |
                              ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                              ARCHIVE_EXTRACT_UNLINK;

std::string errno_text() {
  return std::strerror(errno);
}

// A layer's path in an error: entry names come from the registry and may be 4 KiB long.
std::string quoted_path(std::string_view path) {
  return "\"" + abbreviated(path, 200) + "\"";
}

std::string parent_rel(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? std::string() : rel.substr(0, slash);
}

std::string base_name(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

std::string join_rel(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

}  // namespace

std::optional<std::string> confine_entry_path(std::string_view name) {
  std::string out;
  size_t i = 0;
  while (i <= name.size()) {
    size_t j = name.find('/', i);
    if (j == std::string_view::npos) j = name.size();
    std::string_view part = name.substr(i, j - i);
    if (part == "..") return std::nullopt;
    if (!part.empty() && part != ".") {
      if (!out.empty()) out += '/';
      out += part;
    }
    i = j + 1;
  }
  return out;
}

Result<LayerFlattener> LayerFlattener::create(const std::filesystem::path& staging) {
  std::error_code ec;
  auto root = std::filesystem::canonical(staging, ec);
  if (ec) return io_error("staging dir " + staging.string() + ": " + ec.message());
  return LayerFlattener(root);
}

Status LayerFlattener::check_parents(const std::string& rel) const {
  std::filesystem::path cur = root_;
  size_t i = 0;
  while (true) {
    size_t j = rel.find('/', i);
    if (j == std::string::npos) return {};  // the last component is the entry itself
    cur /= rel.substr(i, j - i);
    struct stat st {};
    if (::lstat(cur.c_str(), &st) != 0) {
      if (errno == ENOENT) return {};  // libarchive creates missing parents
      return io_error("lstat " + rel.substr(0, j) + ": " + errno_text());
    }
    if (!S_ISDIR(st.st_mode)) {
      return invalid_argument("path " + quoted_path(rel) + " goes through a non-directory (" +
                              quoted_path(rel.substr(0, j)) + ")");
    }
    i = j + 1;
  }
}

void LayerFlattener::forget(const std::string& rel) {
  meta_.erase(rel);
  std::string prefix = rel + "/";
  for (auto it = meta_.lower_bound(prefix); it != meta_.end() && it->first.starts_with(prefix);) {
    it = meta_.erase(it);
  }
}

void LayerFlattener::mark_added(const std::string& rel) {
  added_.insert(rel);
  for (std::string p = parent_rel(rel); !p.empty(); p = parent_rel(p)) {
    if (!added_ancestors_.insert(p).second) break;
  }
}

Status LayerFlattener::remove_lower(const std::string& rel) {
  // A whiteout through a symlinked or missing parent names nothing in our tree.
  if (rel.empty() || !check_parents(rel).ok()) return {};
  std::error_code ec;
  remove_tree(abs(rel), ec);  // never follows symlinks
  if (ec) return io_error("remove " + rel + ": " + ec.message());
  forget(rel);
  return {};
}

Status LayerFlattener::make_opaque(const std::string& dir_rel) {
  if (!dir_rel.empty() && !check_parents(dir_rel).ok()) return {};
  struct stat st {};
  if (::lstat(abs(dir_rel).c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) return {};
  std::vector<std::string> children;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(abs(dir_rel), ec)) {
    children.push_back(de.path().filename().string());
  }
  if (ec) return io_error("list " + dir_rel + ": " + ec.message());
  for (const auto& name : children) {
    std::string child = join_rel(dir_rel, name);
    bool kept = added_.count(child) || added_ancestors_.count(child);
    if (!kept) {
      MATCHLOCK_TRY(remove_lower(child));
      continue;
    }
    // Lower-layer content below a directory this layer (re)wrote is hidden too.
    struct stat cst {};
    if (::lstat(abs(child).c_str(), &cst) == 0 && S_ISDIR(cst.st_mode)) {
      MATCHLOCK_TRY(make_opaque(child));
    }
  }
  return {};
}

Status LayerFlattener::apply_whiteout(const std::string& rel, const std::string& name) {
  ++stats_.whiteouts;
  if (name == kOpaqueMarker) return make_opaque(parent_rel(rel));
  if (name.starts_with(".wh..wh.")) return {};  // other ".wh..wh.*" are AUFS internals
  std::string target = join_rel(parent_rel(rel), name.substr(kWhiteoutPrefix.size()));
  if (added_.count(target)) return {};  // this layer's own entry is never whited out
  return remove_lower(target);
}

// A lower directory replaced by a non-directory (or vice versa) goes entirely.
Status LayerFlattener::clear_replaced_path(const std::string& rel, bool new_is_dir) {
  struct stat st {};
  if (::lstat(abs(rel).c_str(), &st) != 0) return {};
  if (new_is_dir && S_ISDIR(st.st_mode)) return {};
  std::error_code ec;
  remove_tree(abs(rel), ec);
  if (ec) return io_error("replace " + rel + ": " + ec.message());
  forget(rel);
  return {};
}

Status LayerFlattener::redirect_hardlink(archive_entry* e, const std::string& rel,
                                         const char* hardlink, EntryMeta& meta) {
  auto target = confine_entry_path(hardlink);
  if (!target || target->empty()) {
    return invalid_argument("hardlink " + quoted_path(rel) + " points outside the root");
  }
  MATCHLOCK_TRY(check_parents(*target));
  struct stat tst {};
  if (::lstat(abs(*target).c_str(), &tst) != 0 || S_ISDIR(tst.st_mode)) {
    return invalid_argument("hardlink " + quoted_path(rel) + " -> " + quoted_path(*target) +
                            ": target missing");
  }
  archive_entry_set_hardlink(e, abs(*target).c_str());
  // The inode is shared: its metadata is the target's.
  if (auto it = meta_.find(*target); it != meta_.end()) meta = it->second;
  return {};
}

Status LayerFlattener::copy_entry_data(archive* in, archive* out, const std::string& rel) {
  const void* buf = nullptr;
  size_t len = 0;
  la_int64_t offset = 0;
  int r;
  while ((r = archive_read_data_block(in, &buf, &len, &offset)) == ARCHIVE_OK) {
    if (archive_write_data_block(out, buf, len, offset) < ARCHIVE_OK) {
      return io_error("write \"" + rel + "\": " + archive_error_text(out));
    }
    stats_.file_bytes += len;
  }
  if (r != ARCHIVE_EOF) {
    return invalid_argument("corrupt layer data at " + quoted_path(rel) + ": " +
                            archive_error_text(in));
  }
  return {};
}

Status LayerFlattener::apply_layer(const std::filesystem::path& layer) {
  ScopedUtf8Locale utf8;
  ArchiveReader in(archive_read_new());
  ArchiveWriter out(archive_write_disk_new());
  if (!in || !out) return io_error("libarchive: out of memory");
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_empty(in.get());  // a 0-byte layer is an empty layer
  archive_write_disk_set_options(out.get(), kExtractFlags);
  if (archive_read_open_filename(in.get(), layer.c_str(), 1 << 16) != ARCHIVE_OK) {
    return invalid_argument("cannot read layer: " + archive_error_text(in.get()));
  }
  added_.clear();
  added_ancestors_.clear();

  archive_entry* e = nullptr;
  while (true) {
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) return invalid_argument("corrupt layer: " + archive_error_text(in.get()));
    const char* raw = archive_entry_pathname(e);
    if (!raw) return invalid_argument("layer entry has an unreadable name");
    auto rel = confine_entry_path(raw);
    if (!rel) return invalid_argument("layer entry " + quoted_path(raw) + " escapes the root");
    std::string name = base_name(*rel);

    if (name.starts_with(kWhiteoutPrefix)) {
      MATCHLOCK_TRY(apply_whiteout(*rel, name));
      continue;
    }

    const char* hardlink = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (!hardlink && type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
      ++stats_.skipped_special;
      continue;
    }
    // Linux has no symlink without a target; libarchive would make a regular file instead, with
    // the entry's mode (a sticky or setuid bit among them).
    if (!hardlink && type == AE_IFLNK) {
      const char* target = archive_entry_symlink(e);
      if (!target || !*target) {
        return invalid_argument("layer entry " + quoted_path(*rel) +
                                " is a symbolic link without a target");
      }
    }
    EntryMeta meta;
    meta.uid = static_cast<uint32_t>(archive_entry_uid(e));
    meta.gid = static_cast<uint32_t>(archive_entry_gid(e));
    meta.mode = static_cast<uint32_t>(type | (archive_entry_perm(e) & 07777));
    meta.mtime_sec = archive_entry_mtime(e);
    meta.mtime_nsec = archive_entry_mtime_nsec(e);

    if (rel->empty()) {  // the layer's "./" entry describes the root directory
      if (type == AE_IFDIR) meta_[""] = meta;
      continue;
    }
    MATCHLOCK_TRY(check_parents(*rel));

    MATCHLOCK_TRY(clear_replaced_path(*rel, !hardlink && type == AE_IFDIR));

    if (hardlink) {
      MATCHLOCK_TRY(redirect_hardlink(e, *rel, hardlink, meta));
      // The inode is the target's, content and mode included. A pax/cpio hardlink may carry data,
      // and libarchive would then write it through the new name and apply this entry's mode
      // (setuid bits among them) to the shared inode: with size 0 it only makes the link.
      archive_entry_set_size(e, 0);
    } else {
      // On the host: owner can always traverse/read (for mkfs), never setuid/setgid/sticky.
      // Symlinks too: their mode is unused, unless libarchive ever writes one as something else.
      mode_t perm = archive_entry_perm(e) & 0777;
      archive_entry_set_perm(e, perm | (type == AE_IFDIR ? 0700 : 0600));
    }
    // fflags like immutable/append-only would make the staging tree undeletable.
    archive_entry_set_fflags(e, 0, 0);
    archive_entry_set_pathname(e, abs(*rel).c_str());

    r = archive_write_header(out.get(), e);
    if (r < ARCHIVE_WARN) {
      return io_error("extract \"" + *rel + "\": " + archive_error_text(out.get()));
    }
    if (!hardlink && type == AE_IFREG && archive_entry_size(e) > 0) {
      MATCHLOCK_TRY(copy_entry_data(in.get(), out.get(), *rel));
    }
    if (archive_write_finish_entry(out.get()) < ARCHIVE_WARN) {
      return io_error("finish \"" + *rel + "\": " + archive_error_text(out.get()));
    }
    ++stats_.entries;
    meta_[*rel] = meta;
    mark_added(*rel);
  }
  if (archive_write_close(out.get()) < ARCHIVE_WARN) {
    return io_error("extract: " + archive_error_text(out.get()));
  }
  return {};
}

Status LayerFlattener::finish() {
  for (const auto& [rel, m] : meta_) {
    if (!S_ISDIR(m.mode)) continue;
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = m.mtime_sec;
    ts[0].tv_nsec = ts[1].tv_nsec = m.mtime_nsec;
    if (::utimensat(AT_FDCWD, abs(rel).c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
      return io_error("set mtime of " + rel + ": " + errno_text());
    }
  }
  return {};
}

}  // namespace matchlock::image
