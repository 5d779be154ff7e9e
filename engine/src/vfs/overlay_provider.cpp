#include "vfs/overlay_provider.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "vfs/host_dir_provider.h"
#include "vfs/read_only_provider.h"

namespace matchlock::vfs {

namespace {

constexpr uint64_t kUpperInoBit = uint64_t{1} << 63;
constexpr size_t kCopyChunk = 1 << 20;  // memory stays flat whatever the file size

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string child_of(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

bool is_dir(const Attr& a) {
  return S_ISDIR(a.mode);
}

// A handle that reports the overlay's inode number for the path it was opened at.
class OverlayHandle final : public FileHandle {
 public:
  OverlayHandle(std::unique_ptr<FileHandle> inner, uint64_t ino)
      : inner_(std::move(inner)), ino_(ino) {}
  Outcome<size_t> read(uint64_t offset, std::span<char> out) override {
    return inner_->read(offset, out);
  }
  Outcome<size_t> write(uint64_t offset, std::string_view data) override {
    return inner_->write(offset, data);
  }
  Outcome<size_t> read_into(uint64_t offset, std::span<const iovec> out) override {
    return inner_->read_into(offset, out);
  }
  Outcome<size_t> write_from(uint64_t offset, std::span<const iovec> data) override {
    return inner_->write_from(offset, data);
  }
  Outcome<Attr> stat() override { return with_ino(inner_->stat()); }
  Outcome<Attr> change(const AttrChange& c) override { return with_ino(inner_->change(c)); }
  Status sync(bool data_only) override { return inner_->sync(data_only); }

 private:
  Outcome<Attr> with_ino(Outcome<Attr> a) {
    if (a) a->ino = ino_;
    return a;
  }
  std::unique_ptr<FileHandle> inner_;
  uint64_t ino_;
};

}  // namespace

Outcome<std::unique_ptr<OverlayProvider>> OverlayProvider::serve(const std::string& lower_host_path,
                                                                 const std::string& upper_dir,
                                                                 IdMap ids, bool owner_is_root) {
  auto lower = HostDirProvider::serve(lower_host_path, ids, owner_is_root);
  if (!lower) return Errno{lower.error()};
  if (::mkdir(upper_dir.c_str(), 0700) != 0 && errno != EEXIST) return Errno{errno};
  auto upper = HostDirProvider::serve(upper_dir, ids, owner_is_root);
  if (!upper) return Errno{upper.error()};
  if ((*upper)->serves_single_file()) return Errno{ENOTDIR};
  bool single_file = (*lower)->serves_single_file();
  return std::make_unique<OverlayProvider>(
      std::make_unique<ReadOnlyProvider>(std::move(lower.value())), std::move(upper.value()),
      single_file);
}

OverlayProvider::OverlayProvider(std::unique_ptr<Provider> lower, std::unique_ptr<Provider> upper,
                                 bool single_file)
    : lower_(std::move(lower)), upper_(std::move(upper)), single_file_(single_file) {}

std::string OverlayProvider::upper_path(const std::string& path) const {
  return single_file_ ? std::string(kUpperFileName) : path;
}

bool OverlayProvider::lower_hidden(const std::string& path) const {
  if (hidden_.empty()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] == '/' && hidden_.count(path.substr(0, i))) return true;
  }
  return hidden_.count(path) > 0;
}

bool OverlayProvider::lower_has(const std::string& path) {
  return !lower_hidden(path) && lower_->stat(path).ok();
}

Outcome<Attr> OverlayProvider::upper_stat(const std::string& path) {
  // The upper root directory always exists but stands for the root only once it was copied up.
  if (!single_file_ && path.empty() && !root_copied_) return Errno{ENOENT};
  return upper_->stat(upper_path(path));
}

uint64_t OverlayProvider::guest_ino(const std::string& path, Layer layer,
                                    uint64_t layer_ino) const {
  auto it = copied_ino_.find(path);
  if (it != copied_ino_.end()) return it->second;
  return layer == Layer::Upper ? (layer_ino | kUpperInoBit) : layer_ino;
}

Outcome<OverlayProvider::Found> OverlayProvider::find(const std::string& path) {
  if (single_file_ && !path.empty()) return Errno{ENOTDIR};
  auto up = upper_stat(path);
  if (up) {
    up->ino = guest_ino(path, Layer::Upper, up->ino);
    return Found{Layer::Upper, up.value()};
  }
  if (up.error() != ENOENT && up.error() != ENOTDIR) return Errno{up.error()};
  if (lower_hidden(path)) return Errno{ENOENT};
  auto low = lower_->stat(path);
  if (!low) return Errno{low.error()};
  low->ino = guest_ino(path, Layer::Lower, low->ino);
  return Found{Layer::Lower, low.value()};
}

Outcome<Attr> OverlayProvider::stat(const std::string& path) {
  auto found = find(path);
  if (!found) return Errno{found.error()};
  return found->attr;
}

// Upper entries, then the lower ones neither shadowed by an upper name nor deleted.
Outcome<std::vector<DirEntry>> OverlayProvider::list(const std::string& path) {
  auto found = find(path);
  if (!found) return Errno{found.error()};
  if (!is_dir(found->attr)) return Errno{ENOTDIR};
  std::map<std::string, DirEntry> merged;
  if (found->layer == Layer::Upper || path.empty()) {
    auto up = upper_->list(upper_path(path));
    if (!up) return Errno{up.error()};
    for (auto& e : *up) {
      e.ino = guest_ino(child_of(path, e.name), Layer::Upper, e.ino);
      merged.emplace(e.name, e);
    }
  }
  if (!lower_hidden(path)) {
    auto low = lower_->list(path);
    if (low) {
      for (auto& e : *low) {
        std::string child = child_of(path, e.name);
        if (merged.count(e.name) || hidden_.count(child)) continue;
        e.ino = guest_ino(child, Layer::Lower, e.ino);
        merged.emplace(e.name, e);
      }
    } else if (low.error() != ENOENT && low.error() != ENOTDIR) {
      return Errno{low.error()};
    }
  }
  std::vector<DirEntry> out;
  out.reserve(merged.size());
  for (auto& [name, e] : merged) out.push_back(std::move(e));
  return out;
}

Outcome<std::unique_ptr<FileHandle>> OverlayProvider::open(const std::string& path, int flags) {
  auto found = find(path);
  if (!found) return Errno{found.error()};
  bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_APPEND));
  Layer layer = found->layer;
  if (writes && layer == Layer::Lower) {
    // Not copied up just to fail: the layer's open gives the same answer for these.
    if (S_ISDIR(found->attr.mode)) return Errno{EISDIR};
    if (S_ISLNK(found->attr.mode)) return Errno{ELOOP};
    if (!S_ISREG(found->attr.mode)) return Errno{EACCES};
    // Content about to be truncated away is not copied.
    auto copied = copy_up(path, !(flags & O_TRUNC));
    if (!copied) return Errno{copied.error()};
    layer = Layer::Upper;
  }
  auto inner =
      layer == Layer::Upper ? upper_->open(upper_path(path), flags) : lower_->open(path, flags);
  if (!inner) return Errno{inner.error()};
  return std::unique_ptr<FileHandle>(new OverlayHandle(std::move(inner.value()), found->attr.ino));
}

Status OverlayProvider::prepare_new(const std::string& path) {
  if (single_file_) return Errno{path.empty() ? EEXIST : ENOTDIR};
  if (path.empty()) return Errno{EEXIST};
  auto found = find(path);
  if (found) return Errno{EEXIST};
  if (found.error() != ENOENT) return Errno{found.error()};
  return ensure_upper_dir(parent_of(path));
}

Outcome<Created> OverlayProvider::create(const std::string& path, int flags, uint32_t mode,
                                         const Caller& caller) {
  auto ready = prepare_new(path);
  if (!ready && ready.error() == EEXIST && !(flags & O_EXCL)) {
    auto handle = open(path, flags);
    if (!handle) return Errno{handle.error()};
    auto attr = (*handle)->stat();
    if (!attr) return Errno{attr.error()};
    return Created{attr.value(), std::move(handle.value())};
  }
  if (!ready) return Errno{ready.error()};
  auto made = upper_->create(path, flags, mode, caller);
  if (!made) return Errno{made.error()};
  uint64_t ino = guest_ino(path, Layer::Upper, made->attr.ino);
  made->attr.ino = ino;
  made->handle = std::make_unique<OverlayHandle>(std::move(made->handle), ino);
  return std::move(made.value());
}

Outcome<Attr> OverlayProvider::mkdir(const std::string& path, uint32_t mode, const Caller& caller) {
  auto ready = prepare_new(path);
  if (!ready) return Errno{ready.error()};
  auto made = upper_->mkdir(path, mode, caller);
  if (made) made->ino = guest_ino(path, Layer::Upper, made->ino);
  return made;
}

Outcome<Attr> OverlayProvider::symlink(const std::string& target, const std::string& path,
                                       const Caller& caller) {
  auto ready = prepare_new(path);
  if (!ready) return Errno{ready.error()};
  auto made = upper_->symlink(target, path, caller);
  if (made) made->ino = guest_ino(path, Layer::Upper, made->ino);
  return made;
}

Outcome<std::string> OverlayProvider::readlink(const std::string& path) {
  auto found = find(path);
  if (!found) return Errno{found.error()};
  return found->layer == Layer::Upper ? upper_->readlink(upper_path(path)) : lower_->readlink(path);
}

Outcome<Attr> OverlayProvider::link(const std::string& existing, const std::string& new_path) {
  auto source = find(existing);
  if (!source) return Errno{source.error()};
  if (is_dir(source->attr)) return Errno{EPERM};
  auto ready = prepare_new(new_path);
  if (!ready) return Errno{ready.error()};
  auto copied = copy_up(existing);
  if (!copied) return Errno{copied.error()};
  auto made = upper_->link(existing, new_path);
  if (made) made->ino = guest_ino(new_path, Layer::Upper, made->ino);
  return made;
}

void OverlayProvider::mark_deleted(const std::string& path, bool lower_had_it) {
  forget_inodes(path);
  if (!lower_had_it) return;
  // Everything below is hidden by the path itself now.
  std::string below = path + "/";
  hidden_.erase(hidden_.lower_bound(below), hidden_.lower_bound(path + "0"));  // '0' follows '/'
  hidden_.insert(path);
}

Status OverlayProvider::unlink(const std::string& path) {
  if (path.empty()) return Errno{EBUSY};
  auto found = find(path);
  if (!found) return Errno{found.error()};
  if (is_dir(found->attr)) return Errno{EISDIR};
  bool lower_had_it = lower_has(path);
  if (found->layer == Layer::Upper) {
    auto done = upper_->unlink(path);
    if (!done) return done;
  }
  mark_deleted(path, lower_had_it);
  return ok_status();
}

Status OverlayProvider::rmdir(const std::string& path) {
  if (path.empty()) return Errno{EBUSY};
  auto found = find(path);
  if (!found) return Errno{found.error()};
  if (!is_dir(found->attr)) return Errno{ENOTDIR};
  auto entries = list(path);
  if (!entries) return Errno{entries.error()};
  if (!entries->empty()) return Errno{ENOTEMPTY};
  bool lower_had_it = lower_has(path);
  if (found->layer == Layer::Upper) {
    auto done = upper_->rmdir(path);
    if (!done) return done;
  }
  mark_deleted(path, lower_had_it);
  return ok_status();
}

// See the header: sources are copied up (directories recursively), renamed in the upper, and
// the lower names they leave or cover are hidden.
Status OverlayProvider::rename(const std::string& from, const std::string& to, unsigned flags) {
  if (from.empty() || to.empty()) return Errno{EBUSY};
  if (single_file_) return Errno{ENOTDIR};
  if (flags & ~static_cast<unsigned>(RENAME_NOREPLACE | RENAME_EXCHANGE)) return Errno{EINVAL};
  if (to.rfind(from + "/", 0) == 0 || from.rfind(to + "/", 0) == 0) return Errno{EINVAL};
  auto source = find(from);
  if (!source) return Errno{source.error()};
  auto target = find(to);
  if (!target && target.error() != ENOENT) return Errno{target.error()};
  if (from == to) return ok_status();
  bool exchange = flags & RENAME_EXCHANGE;
  if (target && (flags & RENAME_NOREPLACE)) return Errno{EEXIST};
  if (!target && exchange) return Errno{ENOENT};
  if (target && !exchange) {
    if (is_dir(source->attr) && !is_dir(target->attr)) return Errno{ENOTDIR};
    if (!is_dir(source->attr) && is_dir(target->attr)) return Errno{EISDIR};
    if (is_dir(target->attr)) {
      auto entries = list(to);
      if (!entries) return Errno{entries.error()};
      if (!entries->empty()) return Errno{ENOTEMPTY};
    }
  }
  auto copied = is_dir(source->attr) ? copy_up_tree(from) : copy_up(from);
  if (!copied) return copied;
  if (exchange) {
    copied = is_dir(target->attr) ? copy_up_tree(to) : copy_up(to);
    if (!copied) return copied;
  } else {
    copied = ensure_upper_dir(parent_of(to));
    if (!copied) return copied;
  }
  bool lower_had_from = lower_has(from);
  bool lower_had_to = lower_has(to);
  auto done = upper_->rename(from, to, flags);
  if (!done) return done;
  if (exchange) {
    const std::string parked("\0exchange", 9);  // a key no guest path can be
    move_inodes(to, parked);
    move_inodes(from, to);
    move_inodes(parked, from);
    // Both sides now hold complete copies: neither may show lower entries again.
    if (lower_had_from || is_dir(target->attr)) hidden_.insert(from);
  } else {
    forget_inodes(to);
    move_inodes(from, to);
    if (lower_had_from) mark_deleted(from, true);
  }
  if (lower_had_to || is_dir(source->attr)) hidden_.insert(to);
  return ok_status();
}

Outcome<Attr> OverlayProvider::change(const std::string& path, const AttrChange& c) {
  auto found = find(path);
  if (!found) return Errno{found.error()};
  if (found->layer == Layer::Lower) {
    auto copied = copy_up(path, !(c.size && *c.size == 0));
    if (!copied) return Errno{copied.error()};
  }
  auto changed = upper_->change(upper_path(path), c);
  if (changed) changed->ino = found->attr.ino;
  return changed;
}

Status OverlayProvider::ensure_upper_dir(const std::string& path) {
  if (path.empty()) return ok_status();  // the upper root always exists
  auto found = find(path);
  if (!found) return Errno{found.error()};
  if (!is_dir(found->attr)) return Errno{ENOTDIR};
  if (found->layer == Layer::Upper) return ok_status();
  return copy_up(path);
}

// Copies one node (a directory without its entries) into the upper, with the lower's mode,
// owner and times, after its parents.
Status OverlayProvider::copy_up(const std::string& path, bool with_content) {
  auto found = find(path);
  if (!found) return Errno{found.error()};
  if (found->layer == Layer::Upper) return ok_status();
  const Attr& attr = found->attr;
  if (!single_file_ && path.empty()) return copy_root_attrs(attr);
  if (!single_file_) {
    auto parent = ensure_upper_dir(parent_of(path));
    if (!parent) return parent;
  }
  Caller owner{attr.uid, attr.gid, 0};
  std::string up = upper_path(path);
  Status made = ok_status();
  if (S_ISREG(attr.mode)) {
    made = copy_file(path, attr, with_content);
  } else if (S_ISDIR(attr.mode)) {
    auto dir = upper_->mkdir(up, attr.mode & 07777, owner);
    if (!dir) made = Errno{dir.error()};
  } else if (S_ISLNK(attr.mode)) {
    auto target = lower_->readlink(path);
    if (!target) return Errno{target.error()};
    auto link = upper_->symlink(*target, up, owner);
    if (!link) made = Errno{link.error()};
  } else {
    return Errno{EOPNOTSUPP};  // devices, FIFOs, sockets cannot be created in the upper
  }
  if (!made) return made;
  AttrChange times;
  times.atime = attr.atime;
  times.mtime = attr.mtime;
  auto timed = upper_->change(up, times);
  if (!timed) return Errno{timed.error()};
  copied_ino_[path] = attr.ino;
  return ok_status();
}

Status OverlayProvider::copy_root_attrs(const Attr& attr) {
  AttrChange c;
  c.mode = attr.mode & 07777;
  c.atime = attr.atime;
  c.mtime = attr.mtime;
  auto changed = upper_->change("", c);
  if (!changed) return Errno{changed.error()};
  AttrChange owner;
  owner.uid = attr.uid;
  owner.gid = attr.gid;
  (void)upper_->change("", owner);  // best effort: only root may give the dir away
  copied_ino_[""] = attr.ino;
  root_copied_ = true;
  return ok_status();
}

Status OverlayProvider::copy_file(const std::string& path, const Attr& attr, bool with_content) {
  std::string up = upper_path(path);
  auto source = lower_->open(path, O_RDONLY);
  if (!source) return Errno{source.error()};
  auto target = upper_->create(up, O_WRONLY | O_EXCL, attr.mode & 07777, {attr.uid, attr.gid, 0});
  if (!target) return Errno{target.error()};
  if (!with_content) return ok_status();
  std::vector<char> buffer(kCopyChunk);
  uint64_t offset = 0;
  for (;;) {
    auto n = (*source)->read(offset, buffer);
    if (!n) {
      (void)upper_->unlink(up);
      return Errno{n.error()};
    }
    if (*n == 0) break;
    size_t written = 0;
    while (written < *n) {
      auto w = target->handle->write(offset + written,
                                     std::string_view(buffer.data() + written, *n - written));
      if (!w || *w == 0) {
        (void)upper_->unlink(up);
        return Errno{w ? EIO : w.error()};
      }
      written += *w;
    }
    offset += *n;
  }
  return ok_status();
}

Status OverlayProvider::copy_up_tree(const std::string& path) {
  auto copied = copy_up(path);
  if (!copied) return copied;
  auto found = find(path);
  if (!found) return Errno{found.error()};
  if (!is_dir(found->attr)) return ok_status();
  auto entries = list(path);
  if (!entries) return Errno{entries.error()};
  for (const auto& e : *entries) {
    auto child = copy_up_tree(child_of(path, e.name));
    if (!child) return child;
  }
  return ok_status();
}

void OverlayProvider::move_inodes(const std::string& from, const std::string& to) {
  std::map<std::string, uint64_t> moved;
  auto it = copied_ino_.find(from);
  if (it != copied_ino_.end()) {
    moved.emplace(to, it->second);
    copied_ino_.erase(it);
  }
  std::string below = from + "/";
  for (it = copied_ino_.lower_bound(below);
       it != copied_ino_.end() && it->first.compare(0, below.size(), below) == 0;) {
    moved.emplace(to + it->first.substr(from.size()), it->second);
    it = copied_ino_.erase(it);
  }
  copied_ino_.merge(moved);
}

void OverlayProvider::forget_inodes(const std::string& path) {
  copied_ino_.erase(path);
  std::string below = path + "/";
  for (auto it = copied_ino_.lower_bound(below);
       it != copied_ino_.end() && it->first.compare(0, below.size(), below) == 0;) {
    it = copied_ino_.erase(it);
  }
}

}  // namespace matchlock::vfs
