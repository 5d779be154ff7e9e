#include "dockerbuild/image_tree.h"

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <vector>

#include "core/text_lines.h"
#include "image/archive_util.h"

namespace matchlock::dockerbuild {
namespace {

// Account files are read whole; anything larger is not an account file worth trusting.
constexpr int64_t kMaxAccountFileBytes = 4 * 1024 * 1024;
constexpr int kMaxSymlinkHops = 40;

struct LayerEntry {
  std::string path;
  image::EntryMeta meta;
  std::string link;
};

std::optional<uint32_t> parse_id(std::string_view text) {
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
  return v;
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string join(const std::string& dir, std::string_view name) {
  return dir.empty() ? std::string(name) : dir + "/" + std::string(name);
}

}  // namespace

void ImageTree::remove_children(const std::string& dir) {
  const std::string prefix = dir.empty() ? "" : dir + "/";
  auto it = nodes_.lower_bound(prefix);
  while (it != nodes_.end() && it->first.compare(0, prefix.size(), prefix) == 0) {
    if (it->first.size() > prefix.size()) {
      it = nodes_.erase(it);
    } else {
      ++it;
    }
  }
}

bool ImageTree::is_regular_file(const std::string& path) const {
  auto it = nodes_.find(path);
  return it != nodes_.end() && S_ISREG(it->second.meta.mode);
}

// A layer need not list the directories above its entries; unpacking creates them (0755,
// root), so the image has them and COPY must see them as directories. Every node's parents are
// in the tree, so the walk up stops at the first one that is.
void ImageTree::add_missing_parents(const std::string& path) {
  for (std::string dir = parent_of(path); !dir.empty(); dir = parent_of(dir)) {
    Node implicit;
    implicit.meta.mode = S_IFDIR | 0755;
    if (!nodes_.emplace(dir, std::move(implicit)).second) break;
  }
}

void ImageTree::remove_tree(const std::string& path) {
  nodes_.erase(path);
  remove_children(path);
}

// A layer's deletions apply to the layers below it only, so they are applied before its
// additions, whatever order the tar lists them in.
Status ImageTree::add_layer(const std::filesystem::path& blob) {
  image::ScopedUtf8Locale utf8;
  image::ArchiveReader in(archive_read_new());
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  archive_read_support_format_empty(in.get());
  if (archive_read_open_filename(in.get(), blob.c_str(), 1 << 16) != ARCHIVE_OK) {
    return Error(ErrorCode::kIo, blob.string() + ": " + image::archive_error_text(in.get()));
  }
  std::vector<LayerEntry> additions;
  std::vector<std::string> whiteouts, opaque_dirs;
  std::optional<std::string> layer_passwd, layer_group;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(in.get(), &e);
    if (r == ARCHIVE_EOF) break;
    if (r < ARCHIVE_WARN) {
      return Error(ErrorCode::kIo, blob.string() + ": " + image::archive_error_text(in.get()));
    }
    const char* raw = archive_entry_pathname(e);
    auto path = image::confine_entry_path(raw ? raw : "");
    if (!path || path->empty()) continue;
    const std::string name = name_of(*path);
    if (name == ".wh..wh..opq") {
      opaque_dirs.push_back(parent_of(*path));
      continue;
    }
    if (name.rfind(".wh.", 0) == 0) {
      // ".wh." alone (or with "." / "..") names no entry; joined, it would mean the root.
      const std::string target = name.substr(4);
      if (!target.empty() && target != "." && target != "..") {
        whiteouts.push_back(join(parent_of(*path), target));
      }
      continue;
    }
    LayerEntry entry;
    entry.path = *path;
    entry.meta.uid = static_cast<uint32_t>(archive_entry_uid(e));
    entry.meta.gid = static_cast<uint32_t>(archive_entry_gid(e));
    mode_t type = archive_entry_filetype(e);
    if (archive_entry_hardlink(e)) type = AE_IFREG;
    entry.meta.mode = static_cast<uint32_t>(type | (archive_entry_perm(e) & 07777));
    entry.meta.mtime_sec = archive_entry_mtime(e);
    entry.meta.mtime_nsec = archive_entry_mtime_nsec(e);
    if (const char* target = archive_entry_symlink(e)) entry.link = target;
    if (*path == "etc/passwd" || *path == "etc/group") {
      // Whatever this layer puts there replaces the lower content; what cannot be read here
      // (a link, a hard link, an oversized file) leaves none rather than a stale one.
      std::string content;
      if (type == AE_IFREG && !archive_entry_hardlink(e) &&
          archive_entry_size(e) <= kMaxAccountFileBytes) {
        content.resize(static_cast<size_t>(archive_entry_size(e)));
        la_ssize_t n = archive_read_data(in.get(), content.data(), content.size());
        if (n != static_cast<la_ssize_t>(content.size())) content.clear();
      }
      (*path == "etc/passwd" ? layer_passwd : layer_group) = std::move(content);
    }
    additions.push_back(std::move(entry));
  }
  for (const auto& dir : opaque_dirs) remove_children(dir);
  for (const auto& path : whiteouts) remove_tree(path);
  for (auto& entry : additions) {
    // A non-directory replaces whatever was there, a whole tree included.
    if (!S_ISDIR(entry.meta.mode)) remove_children(entry.path);
    add_missing_parents(entry.path);
    nodes_[entry.path] = Node{entry.meta, std::move(entry.link)};
  }
  if (layer_passwd) passwd_ = std::move(*layer_passwd);
  if (layer_group) group_ = std::move(*layer_group);
  // Removed by a whiteout, an opaque or replaced /etc, or turned into a link: gone with it.
  if (!is_regular_file("etc/passwd")) passwd_.clear();
  if (!is_regular_file("etc/group")) group_.clear();
  return {};
}

std::optional<image::EntryMeta> ImageTree::directory(std::string_view path) const {
  if (path.empty()) {
    image::EntryMeta root;
    root.mode = S_IFDIR | 0755;
    return root;
  }
  auto it = nodes_.find(std::string(path));
  if (it == nodes_.end() || !S_ISDIR(it->second.meta.mode)) return std::nullopt;
  return it->second.meta;
}

// Walks component by component; a symlink's target replaces the walked prefix (absolute targets
// restart at the image root, ".." never climbs above it).
Result<std::string> ImageTree::resolve(std::string_view path) const {
  std::vector<std::string> pending;
  for (size_t pos = 0; pos <= path.size();) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    if (slash > pos) pending.emplace_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  std::reverse(pending.begin(), pending.end());
  std::string resolved;
  int hops = 0;
  while (!pending.empty()) {
    std::string part = std::move(pending.back());
    pending.pop_back();
    if (part == "." || part.empty()) continue;
    if (part == "..") {
      resolved = parent_of(resolved);
      continue;
    }
    std::string next = join(resolved, part);
    auto it = nodes_.find(next);
    // The last component stays a link: COPY replaces a link it is told to write to, as docker.
    if (it != nodes_.end() && S_ISLNK(it->second.meta.mode) && !pending.empty()) {
      if (++hops > kMaxSymlinkHops) {
        return Error(ErrorCode::kInvalidArgument,
                     "too many symbolic links in /" + std::string(path));
      }
      const std::string& target = it->second.link;
      if (!target.empty() && target[0] == '/') resolved.clear();
      std::vector<std::string> parts;
      for (size_t pos = 0; pos <= target.size();) {
        size_t slash = target.find('/', pos);
        if (slash == std::string::npos) slash = target.size();
        if (slash > pos) parts.push_back(target.substr(pos, slash - pos));
        pos = slash + 1;
      }
      for (auto p = parts.rbegin(); p != parts.rend(); ++p) pending.push_back(*p);
      continue;
    }
    resolved = std::move(next);
  }
  return resolved;
}

namespace {

// The fields of the line of a passwd or group file whose first field is `name`.
std::optional<std::vector<std::string_view>> account_fields(const std::string& file,
                                                            std::string_view name) {
  TextLines lines(file);
  for (std::string_view line; lines.next(line);) {
    std::vector<std::string_view> fields;
    for (size_t start = 0;;) {
      size_t colon = line.find(':', start);
      fields.push_back(line.substr(
          start, colon == std::string_view::npos ? std::string_view::npos : colon - start));
      if (colon == std::string_view::npos) break;
      start = colon + 1;
    }
    if (fields.size() >= 3 && fields[0] == name) return fields;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::pair<uint32_t, uint32_t>> find_user(const std::string& passwd,
                                                       std::string_view name) {
  auto fields = account_fields(passwd, name);
  if (!fields || fields->size() < 4) return std::nullopt;
  auto uid = parse_id((*fields)[2]);
  auto gid = parse_id((*fields)[3]);
  if (!uid || !gid) return std::nullopt;
  return std::make_pair(*uid, *gid);
}

std::optional<uint32_t> find_group(const std::string& group, std::string_view name) {
  auto fields = account_fields(group, name);
  if (!fields) return std::nullopt;
  return parse_id((*fields)[2]);
}

}  // namespace matchlock::dockerbuild
