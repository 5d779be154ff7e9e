#include "dockerbuild/copy_layer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>

#include "core/unique_fd.h"
#include "dockerbuild/source_paths.h"
#include "image/archive_util.h"
#include "image/content_store.h"
#include "image/digest.h"
#include "image/layer_tar_writer.h"

namespace matchlock::dockerbuild {
namespace {

using image::TarEntry;
using image::TarEntryKind;

constexpr size_t kBuffer = 1 << 16;

std::string errno_text() {
  return std::strerror(errno);
}

std::string join_rel(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (name.empty()) return std::string(dir);
  return std::string(dir) + "/" + std::string(name);
}

std::string base_name(std::string_view rel) {
  size_t slash = rel.rfind('/');
  return std::string(slash == std::string_view::npos ? rel : rel.substr(slash + 1));
}

// Where an entry's bytes come from when the tar is written.
enum class DataSource { kNone, kHostFile, kSpool, kInline };

struct Item {
  TarEntry meta;  // meta.path is set when written
  DataSource data = DataSource::kNone;
  std::string host_path;                     // kHostFile
  int64_t spool_offset = 0;                  // kSpool
  const std::string* inline_text = nullptr;  // kInline
};

struct PathLess {
  bool operator()(const std::string& a, const std::string& b) const {
    return image::tar_path_less(a, b);
  }
};

std::optional<uint32_t> parse_id(std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// The destination made relative to "/": ".." stops at the root, as paths inside an image do.
std::string clean_dest(std::string_view dest) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= dest.size()) {
    size_t j = dest.find('/', i);
    if (j == std::string_view::npos) j = dest.size();
    std::string_view part = dest.substr(i, j - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.emplace_back(part);
    }
    i = j + 1;
  }
  std::string out;
  for (const auto& p : parts) out = join_rel(out, p);
  return out;
}

bool is_url(std::string_view s) {
  return s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@");
}

class CopyLayerBuilder {
 public:
  CopyLayerBuilder(const CopyRequest& req, const CopyCallbacks& cb, std::filesystem::path tmp_dir)
      : req_(req), cb_(cb), tmp_dir_(std::move(tmp_dir)) {}

  Status collect();
  Result<CopyLayer> write(int out_fd) const;

 private:
  std::string instruction() const { return req_.add ? "ADD" : "COPY"; }
  bool visible(std::string_view rel) const {
    return rel.empty() || !cb_.excluded || !cb_.excluded(rel);  // the root is always there
  }
  Status add_source(const std::string& source, const std::string& dest, bool dest_is_dir);
  Status add_match(const SourceMatch& m, const std::string& dest, bool dest_is_dir);
  Status copy_tree(const std::string& real_dir, const std::string& dest_dir);
  Result<Item> item_for(const std::string& real_rel, const struct stat& st) const;
  Result<bool> extract_archive(const std::string& real_rel, const std::string& dest_dir);
  Status extract_entries(::archive* in, archive_entry* first, const std::string& dest_dir);
  Status spool(::archive* in, const std::string& name, Item& item);
  Status put(const std::string& dest_rel, Item item);
  void add_parents();
  void apply_owner_and_mode(Item& item, bool keep_owner) const;

  const CopyRequest& req_;
  const CopyCallbacks& cb_;
  std::filesystem::path tmp_dir_;
  std::optional<UserIds> owner_;
  UniqueFd spool_;
  int64_t spooled_ = 0;
  std::map<std::string, Item, PathLess> items_;
};

void CopyLayerBuilder::apply_owner_and_mode(Item& item, bool keep_owner) const {
  if (owner_) {
    item.meta.uid = owner_->uid;
    item.meta.gid = owner_->gid;
  } else if (!keep_owner) {
    item.meta.uid = item.meta.gid = 0;
  }
  bool has_mode =
      item.meta.kind == TarEntryKind::kFile || item.meta.kind == TarEntryKind::kDirectory;
  if (req_.chmod && has_mode) item.meta.mode = *req_.chmod & 07777;
}

Result<Item> CopyLayerBuilder::item_for(const std::string& real_rel, const struct stat& st) const {
  Item item;
  TarEntry& m = item.meta;
  m.mode = st.st_mode & 07777;
  m.uid = st.st_uid;
  m.gid = st.st_gid;
  m.mtime = st.st_mtim.tv_sec;
  std::filesystem::path abs = req_.source_root / real_rel;
  switch (st.st_mode & S_IFMT) {
    case S_IFDIR:
      m.kind = TarEntryKind::kDirectory;
      break;
    case S_IFREG:
      m.kind = TarEntryKind::kFile;
      m.size = st.st_size;
      item.data = DataSource::kHostFile;
      item.host_path = abs.string();
      break;
    case S_IFLNK: {
      std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
      ssize_t n = ::readlink(abs.c_str(), buf.data(), buf.size());
      if (n <= 0) return io_error("readlink " + real_rel + ": " + errno_text());
      m.kind = TarEntryKind::kSymlink;
      m.link.assign(buf.data(), static_cast<size_t>(n));
      break;
    }
    case S_IFCHR:
    case S_IFBLK:
      m.kind = S_ISCHR(st.st_mode) ? TarEntryKind::kCharDevice : TarEntryKind::kBlockDevice;
      m.dev_major = major(st.st_rdev);
      m.dev_minor = minor(st.st_rdev);
      break;
    case S_IFIFO:
      m.kind = TarEntryKind::kFifo;
      break;
    default:
      return not_found(real_rel);  // sockets have no tar form
  }
  if (cb_.source_metadata) {
    if (auto rec = cb_.source_metadata(real_rel)) {
      m.uid = rec->uid;
      m.gid = rec->gid;
      m.mode = rec->mode & 07777;
    }
  }
  apply_owner_and_mode(item, req_.keep_source_owner);
  return item;
}

Status CopyLayerBuilder::put(const std::string& dest_rel, Item item) {
  if (dest_rel.empty()) {
    if (item.meta.kind == TarEntryKind::kDirectory) return {};  // "/" is never in a layer
    return invalid_argument(instruction() + " failed: cannot copy a file over /");
  }
  for (size_t slash = dest_rel.find('/'); slash != std::string::npos;
       slash = dest_rel.find('/', slash + 1)) {
    auto it = items_.find(dest_rel.substr(0, slash));
    if (it != items_.end() && it->second.meta.kind != TarEntryKind::kDirectory) {
      return invalid_argument(instruction() + " failed: cannot copy to /" + dest_rel + ": /" +
                              it->first + " is not a directory");
    }
  }
  auto it = items_.find(dest_rel);
  if (it != items_.end() && item.meta.kind != TarEntryKind::kDirectory) {
    // A later source replaces what an earlier one put here, subtree included.
    std::string prefix = dest_rel + "/";
    for (auto c = std::next(it); c != items_.end() && c->first.starts_with(prefix);) {
      c = items_.erase(c);
    }
  }
  items_[dest_rel] = std::move(item);
  return {};
}

Status CopyLayerBuilder::copy_tree(const std::string& real_dir, const std::string& dest_dir) {
  std::filesystem::path dir = req_.source_root / real_dir;
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& de : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(de.path().filename().string());
  }
  if (ec) return io_error("list " + dir.string() + ": " + ec.message());
  std::sort(names.begin(), names.end());
  for (const auto& name : names) {
    std::string rel = join_rel(real_dir, name);
    std::string dest = join_rel(dest_dir, name);
    struct stat st {};
    if (::lstat((req_.source_root / rel).c_str(), &st) != 0) {
      return io_error("lstat " + rel + ": " + errno_text());
    }
    if (!visible(rel)) {
      // An ignored directory may still hold "!"-excepted paths; its own entry stays out.
      if (S_ISDIR(st.st_mode) && cb_.may_include_below && cb_.may_include_below(rel)) {
        MATCHLOCK_TRY(copy_tree(rel, dest));
      }
      continue;
    }
    auto item = item_for(rel, st);
    if (!item) {
      if (item.error().code == ErrorCode::kNotFound) continue;
      return item.error();
    }
    MATCHLOCK_TRY(put(dest, std::move(*item)));
    if (S_ISDIR(st.st_mode)) MATCHLOCK_TRY(copy_tree(rel, dest));
  }
  return {};
}

Status CopyLayerBuilder::add_match(const SourceMatch& m, const std::string& dest,
                                   bool dest_is_dir) {
  struct stat st {};
  std::filesystem::path abs = req_.source_root / m.real;
  if (::lstat(abs.c_str(), &st) != 0) return io_error("lstat " + m.named + ": " + errno_text());
  if (S_ISDIR(st.st_mode)) {
    // The directory's contents go to dest; dest itself takes the directory's metadata unless
    // the image already has a directory there (a COPY never re-permissions /tmp).
    bool image_has_dest = cb_.existing_dir && !dest.empty() && cb_.existing_dir(dest);
    if (!image_has_dest) {
      auto item = item_for(m.real, st);
      if (!item) return item.error();
      MATCHLOCK_TRY(put(dest, std::move(*item)));
    }
    return copy_tree(m.real, dest);
  }
  if (req_.add && S_ISREG(st.st_mode)) {
    auto extracted = extract_archive(m.real, dest);
    if (!extracted) return extracted.error();
    if (*extracted) return {};
  }
  auto item = item_for(m.real, st);
  if (!item) {
    if (item.error().code == ErrorCode::kNotFound) {
      return invalid_argument(instruction() + " failed: " + m.named + " is a socket");
    }
    return item.error();
  }
  return put(dest_is_dir ? join_rel(dest, base_name(m.named)) : dest, std::move(*item));
}

Status CopyLayerBuilder::add_source(const std::string& source, const std::string& dest,
                                    bool dest_is_dir) {
  if (is_url(source)) {
    if (req_.add) return invalid_argument("ADD from a URL is not supported; use RUN curl");
    return invalid_argument("COPY failed: source can't be a URL for COPY: " + source);
  }
  for (const auto& [name, text] : req_.inline_files) {
    if (name != source) continue;
    Item item;
    item.meta.kind = TarEntryKind::kFile;
    item.meta.mode = 0644;
    item.meta.size = static_cast<int64_t>(text.size());
    item.data = DataSource::kInline;
    item.inline_text = &text;
    apply_owner_and_mode(item, false);
    return put(dest_is_dir ? join_rel(dest, name) : dest, std::move(item));
  }
  auto clean = clean_relative(source);
  if (!clean) {
    return invalid_argument(instruction() +
                            " failed: forbidden path outside the build context: " + source);
  }
  auto matches = expand_source(req_.source_root, *clean,
                               [this](std::string_view rel) { return visible(rel); });
  if (!matches) {
    return matches.error().with_context(instruction() + " failed: source " + source);
  }
  if (matches->empty()) {
    if (has_wildcard(*clean)) return {};  // as BuildKit: an empty wildcard copies nothing
    return not_found(instruction() + " failed: file not found in build context: " + source);
  }
  bool into_dir = dest_is_dir || matches->size() > 1;
  for (const auto& m : *matches) MATCHLOCK_TRY(add_match(m, dest, into_dir));
  return {};
}

// Every directory leading to a copied path is in the layer: the image's own metadata when the
// image has it, else a fresh 0755 root:root directory with mtime 0 (reproducible).
void CopyLayerBuilder::add_parents() {
  std::vector<std::string> missing;
  for (const auto& [path, item] : items_) {
    for (size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      std::string parent = path.substr(0, slash);
      if (!items_.count(parent)) missing.push_back(parent);
    }
  }
  for (const auto& parent : missing) {
    if (items_.count(parent)) continue;
    Item dir;
    dir.meta.kind = TarEntryKind::kDirectory;
    dir.meta.mode = 0755;
    if (cb_.existing_dir) {
      if (auto meta = cb_.existing_dir(parent)) {
        dir.meta.mode = meta->mode & 07777;
        dir.meta.uid = meta->uid;
        dir.meta.gid = meta->gid;
        dir.meta.mtime = meta->mtime_sec;
      }
    }
    items_[parent] = std::move(dir);
  }
}

Status CopyLayerBuilder::collect() {
  if (!req_.chown.empty()) {
    auto ids = resolve_chown(req_.chown, cb_);
    if (!ids) return ids.error();
    owner_ = *ids;
  }
  bool slash = req_.dest.ends_with('/');
  if (req_.sources.size() > 1 && !slash) {
    return invalid_argument("When using " + instruction() +
                            " with more than one source file, the destination must be a "
                            "directory and end with a /");
  }
  std::string dest = clean_dest(req_.dest);
  if (cb_.resolve_dest && !dest.empty()) {
    auto real = cb_.resolve_dest(dest);
    if (!real) return real.error().with_context(instruction() + " failed: destination /" + dest);
    auto clean = clean_relative(*real);
    if (!clean)
      return invalid_argument(instruction() + " failed: destination /" + dest +
                              " resolves outside the image");
    dest = *clean;
  }
  bool dest_is_dir = slash || dest.empty() || (cb_.existing_dir && cb_.existing_dir(dest));
  for (const auto& source : req_.sources) MATCHLOCK_TRY(add_source(source, dest, dest_is_dir));
  add_parents();
  return {};
}

Status CopyLayerBuilder::spool(::archive* in, const std::string& name, Item& item) {
  if (!spool_) {
    auto tmp = image::make_temp_file(tmp_dir_, ".add-spool-");
    if (!tmp) return tmp.error();
    ::unlink(tmp->second.c_str());  // anonymous: gone with its fd
    spool_ = std::move(tmp->first);
  }
  item.data = DataSource::kSpool;
  item.spool_offset = spooled_;
  std::vector<char> buf(kBuffer);
  int64_t got = 0;
  while (true) {
    la_ssize_t n = archive_read_data(in, buf.data(), buf.size());
    if (n < 0) return invalid_argument("ADD: corrupt archive at " + name);
    if (n == 0) break;
    for (la_ssize_t done = 0; done < n;) {
      ssize_t w =
          ::pwrite(spool_.get(), buf.data() + done, static_cast<size_t>(n - done), spooled_);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return io_error("ADD: spool " + name + ": " + errno_text());
      done += w;
      spooled_ += w;
    }
    got += n;
  }
  item.meta.size = got;
  return {};
}

// Entries of an ADDed archive, confined to `dest_dir`. Hardlinks become copies of the earlier
// file they name (the copy shares its spooled bytes); the canonical order may put a link first.
Status CopyLayerBuilder::extract_entries(::archive* in, archive_entry* first,
                                         const std::string& dest_dir) {
  archive_entry* e = first;
  for (int r = ARCHIVE_OK; r != ARCHIVE_EOF; r = archive_read_next_header(in, &e)) {
    if (r < ARCHIVE_WARN) {
      return invalid_argument("ADD: corrupt archive: " + image::archive_error_text(in));
    }
    const char* raw = archive_entry_pathname(e);
    auto rel = image::confine_entry_path(raw ? raw : "");
    if (!rel)
      return invalid_argument("ADD: archive entry \"" + std::string(raw ? raw : "") +
                              "\" leads outside the destination");
    if (rel->empty()) continue;
    std::string dest = join_rel(dest_dir, *rel);
    Item item;
    TarEntry& m = item.meta;
    m.mode = archive_entry_perm(e) & 07777;
    m.uid = static_cast<uint32_t>(archive_entry_uid(e));
    m.gid = static_cast<uint32_t>(archive_entry_gid(e));
    m.mtime = archive_entry_mtime(e);
    if (const char* link = archive_entry_hardlink(e)) {
      auto target = image::confine_entry_path(link);
      auto it = target ? items_.find(join_rel(dest_dir, *target)) : items_.end();
      if (it == items_.end() || it->second.meta.kind == TarEntryKind::kDirectory) {
        return invalid_argument("ADD: archive hardlink \"" + *rel + "\" names no earlier file");
      }
      item = it->second;
      MATCHLOCK_TRY(put(dest, std::move(item)));
      continue;
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        m.kind = TarEntryKind::kDirectory;
        break;
      case AE_IFREG:
        m.kind = TarEntryKind::kFile;
        MATCHLOCK_TRY(spool(in, *rel, item));
        break;
      case AE_IFLNK:
        m.kind = TarEntryKind::kSymlink;
        m.link = archive_entry_symlink(e) ? archive_entry_symlink(e) : "";
        if (m.link.empty())
          return invalid_argument("ADD: archive symlink \"" + *rel + "\" is empty");
        break;
      case AE_IFCHR:
      case AE_IFBLK:
        m.kind = archive_entry_filetype(e) == AE_IFCHR ? TarEntryKind::kCharDevice
                                                       : TarEntryKind::kBlockDevice;
        m.dev_major = static_cast<uint32_t>(archive_entry_rdevmajor(e));
        m.dev_minor = static_cast<uint32_t>(archive_entry_rdevminor(e));
        break;
      case AE_IFIFO:
        m.kind = TarEntryKind::kFifo;
        break;
      default:
        continue;  // sockets and the like have no place in a layer
    }
    apply_owner_and_mode(item, true);  // an archive's own ownership stands unless --chown
    MATCHLOCK_TRY(put(dest, std::move(item)));
  }
  return {};
}

// True when the file is a tar archive (compressed or not) and was extracted; false when it is
// any other file, which ADD copies as it is.
Result<bool> CopyLayerBuilder::extract_archive(const std::string& real_rel,
                                               const std::string& dest_dir) {
  image::ScopedUtf8Locale utf8;
  image::ArchiveReader in(archive_read_new());
  if (!in) return io_error("libarchive: out of memory");
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  std::filesystem::path abs = req_.source_root / real_rel;
  if (archive_read_open_filename(in.get(), abs.c_str(), kBuffer) != ARCHIVE_OK) return false;
  archive_entry* e = nullptr;
  int r = archive_read_next_header(in.get(), &e);
  if (r < ARCHIVE_WARN) return false;
  if (r == ARCHIVE_EOF) return true;  // an empty tar: nothing to extract
  MATCHLOCK_TRY(extract_entries(in.get(), e, dest_dir));
  return true;
}

Result<CopyLayer> CopyLayerBuilder::write(int out_fd) const {
  auto writer = image::LayerTarWriter::open(out_fd);
  if (!writer) return writer.error();
  image::Sha256 inputs;
  for (const auto& [path, item] : items_) {
    TarEntry e = item.meta;
    e.path = path;
    std::string content = "-";
    switch (item.data) {
      case DataSource::kHostFile: {
        UniqueFd f(::open(item.host_path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        struct stat st {};
        if (!f || ::fstat(f.get(), &st) != 0) {
          return io_error(instruction() + " failed: open /" + path + " source: " + errno_text());
        }
        if (!S_ISREG(st.st_mode) || st.st_size != e.size) {
          return io_error(instruction() + " failed: " + item.host_path + " changed while copied");
        }
        image::Sha256 h;
        MATCHLOCK_TRY(writer->add_file(e, f.get(), std::nullopt, &h));
        content = h.finish();
        break;
      }
      case DataSource::kSpool: {
        image::Sha256 h;
        MATCHLOCK_TRY(writer->add_file(e, spool_.get(), item.spool_offset, &h));
        content = h.finish();
        break;
      }
      case DataSource::kInline:
        MATCHLOCK_TRY(writer->add_file(e, *item.inline_text));
        content = image::sha256_digest(*item.inline_text);
        break;
      case DataSource::kNone:
        MATCHLOCK_TRY(writer->add(e));
        break;
    }
    std::string record = path + '\0' + std::to_string(static_cast<int>(e.kind)) + '\0' +
                         std::to_string(e.mode) + '\0' + std::to_string(e.uid) + '\0' +
                         std::to_string(e.gid) + '\0' + std::to_string(e.size) + '\0' + content +
                         '\0' + e.link + '\0' + std::to_string(e.dev_major) + ':' +
                         std::to_string(e.dev_minor) + '\n';
    inputs.update(record.data(), record.size());
  }
  auto tar = writer->finish();
  if (!tar) return tar.error();
  return CopyLayer{tar->diff_id, tar->size, tar->entries, inputs.finish()};
}

}  // namespace

Result<UserIds> resolve_chown(std::string_view spec, const CopyCallbacks& callbacks) {
  size_t colon = spec.find(':');
  std::string_view user = spec.substr(0, colon);
  std::optional<std::string_view> group;
  if (colon != std::string_view::npos) group = spec.substr(colon + 1);
  if (user.empty() || (group && group->empty())) {
    return invalid_argument("--chown: expected user[:group], got \"" + std::string(spec) + "\"");
  }
  UserIds ids;
  if (auto uid = parse_id(user)) {
    ids.uid = ids.gid = *uid;  // docker: a bare uid doubles as the gid
  } else {
    if (!callbacks.lookup_user) return not_found("--chown: unknown user " + std::string(user));
    auto found = callbacks.lookup_user(user);
    if (!found) return found.error();
    ids = *found;
  }
  if (group) {
    if (auto gid = parse_id(*group)) {
      ids.gid = *gid;
    } else {
      if (!callbacks.lookup_group)
        return not_found("--chown: unknown group " + std::string(*group));
      auto found = callbacks.lookup_group(*group);
      if (!found) return found.error();
      ids.gid = *found;
    }
  }
  return ids;
}

Result<CopyLayer> write_copy_layer(const CopyRequest& request, const CopyCallbacks& callbacks,
                                   const std::filesystem::path& out_tar) {
  CopyLayerBuilder builder(request, callbacks, out_tar.parent_path());
  Result<CopyLayer> result = [&]() -> Result<CopyLayer> {
    MATCHLOCK_TRY(builder.collect());
    UniqueFd out(::open(out_tar.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out) return io_error("create " + out_tar.string() + ": " + errno_text());
    return builder.write(out.get());
  }();
  if (!result) {
    std::error_code ec;
    std::filesystem::remove(out_tar, ec);
  }
  return result;
}

}  // namespace matchlock::dockerbuild
