#include "vfs/memory_provider.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>
#include <vector>

namespace matchlock::vfs {
namespace {

constexpr uint64_t kMaxFileSize = uint64_t{1} << 40;

timespec now() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts;
}

// Bytes and nodes in use; shared by the tree and every node so a node freed after its
// provider (an open handle outliving it) still gives its budget back safely.
struct Usage {
  uint64_t bytes = 0;
  uint64_t nodes = 0;
};

}  // namespace

struct MemoryProvider::Node {
  explicit Node(std::shared_ptr<Usage> u) : usage(std::move(u)) { ++usage->nodes; }
  // Children are released with a worklist, not by recursion: a guest nests directories as deep
  // as it likes with short paths (mkdir n; mv c n/c; mv n c), and releasing 200 000 levels one
  // destructor inside the other overflowed the owner's stack. A child someone else still holds
  // (an open handle) keeps its own children; its destructor runs this loop later.
  ~Node() {
    std::vector<std::shared_ptr<Node>> releasing;
    auto take_children = [&releasing](Node& n) {
      for (auto& [name, child] : n.children) releasing.push_back(std::move(child));
      n.children.clear();
    };
    take_children(*this);
    while (!releasing.empty()) {
      std::shared_ptr<Node> n = std::move(releasing.back());
      releasing.pop_back();
      if (n.use_count() == 1) take_children(*n);
    }  // each `n` is released childless, so its destructor does not come back here deeper
    usage->bytes -= data.size();
    --usage->nodes;
  }
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  bool is_dir() const { return S_ISDIR(mode); }
  bool is_file() const { return S_ISREG(mode); }

  std::shared_ptr<Usage> usage;
  uint64_t ino = 0;
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint32_t links = 0;  // directory entries naming this node (files and symlinks)
  timespec atime{}, mtime{}, ctime{};
  std::string data;  // file contents or symlink target
  std::map<std::string, std::shared_ptr<Node>> children;
};

struct MemoryProvider::State {
  Limits limits;
  std::shared_ptr<Usage> usage = std::make_shared<Usage>();
  uint64_t next_ino = 1;
  std::shared_ptr<Node> root;

  Outcome<std::shared_ptr<Node>> new_node(uint32_t mode, const Caller& caller) {
    if (usage->nodes >= limits.max_nodes) return Errno{ENOSPC};
    auto n = std::make_shared<Node>(usage);
    n->ino = next_ino++;
    n->mode = mode;
    n->uid = caller.uid;
    n->gid = caller.gid;
    n->atime = n->mtime = n->ctime = now();
    return n;
  }

  // Resizes a file's contents within the byte budget.
  Status resize(Node& n, uint64_t size) {
    if (size > n.data.size() && size - n.data.size() > limits.max_bytes - usage->bytes) {
      return Errno{ENOSPC};
    }
    usage->bytes = usage->bytes - n.data.size() + size;
    n.data.resize(size);
    return ok_status();
  }

  Outcome<std::shared_ptr<Node>> find(const std::string& path) const {
    std::shared_ptr<Node> cur = root;
    size_t pos = 0;
    while (pos < path.size()) {
      size_t slash = path.find('/', pos);
      if (slash == std::string::npos) slash = path.size();
      if (!cur->is_dir()) return Errno{ENOTDIR};
      auto it = cur->children.find(path.substr(pos, slash - pos));
      if (it == cur->children.end()) return Errno{ENOENT};
      cur = it->second;
      pos = slash + 1;
    }
    return cur;
  }

  struct Slot {
    std::shared_ptr<Node> dir;
    std::string name;
  };
  // The directory that holds `path`'s last component; the root has none (EBUSY).
  Outcome<Slot> slot(const std::string& path) const {
    if (path.empty()) return Errno{EBUSY};
    size_t slash = path.rfind('/');
    std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
    auto dir = find(parent);
    if (!dir) return Errno{dir.error()};
    if (!(*dir)->is_dir()) return Errno{ENOTDIR};
    return Slot{*dir, slash == std::string::npos ? path : path.substr(slash + 1)};
  }
};

namespace {

using Node = MemoryProvider::Node;

Attr attr_of(const Node& n) {
  Attr a;
  a.ino = n.ino;
  a.mode = n.mode;
  a.uid = n.uid;
  a.gid = n.gid;
  if (n.is_dir()) {
    a.nlink = 2 + static_cast<uint32_t>(std::count_if(n.children.begin(), n.children.end(),
                                                      [](auto& c) { return c.second->is_dir(); }));
    a.size = 4096;
  } else {
    a.nlink = n.links;
    a.size = n.data.size();
  }
  a.blocks = (a.size + 511) / 512;
  a.atime = n.atime;
  a.mtime = n.mtime;
  a.ctime = n.ctime;
  return a;
}

void touch_dir(Node& dir) {
  dir.mtime = dir.ctime = now();
}

void set_time(timespec& field, const std::optional<timespec>& value, const timespec& t) {
  if (!value || value->tv_nsec == UTIME_OMIT) return;
  field = value->tv_nsec == UTIME_NOW ? t : *value;
}

Outcome<Attr> apply_change(MemoryProvider::State& st, Node& n, const AttrChange& c) {
  if (c.size) {
    if (n.is_dir()) return Errno{EISDIR};
    if (!n.is_file()) return Errno{EINVAL};
    auto rs = st.resize(n, *c.size);
    if (!rs) return Errno{rs.error()};
    n.mtime = now();
  }
  timespec t = now();
  if (c.mode) n.mode = (n.mode & S_IFMT) | (*c.mode & 07777);
  if (c.uid) n.uid = *c.uid;
  if (c.gid) n.gid = *c.gid;
  set_time(n.atime, c.atime, t);
  set_time(n.mtime, c.mtime, t);
  n.ctime = t;
  return attr_of(n);
}

class MemoryFile : public FileHandle {
 public:
  MemoryFile(std::shared_ptr<MemoryProvider::State> st, std::shared_ptr<Node> n, int flags)
      : st_(std::move(st)), node_(std::move(n)), flags_(flags) {}

  Outcome<size_t> read(uint64_t offset, std::span<char> out) override {
    if (node_->is_dir()) return Errno{EISDIR};
    if ((flags_ & O_ACCMODE) == O_WRONLY) return Errno{EBADF};
    const std::string& d = node_->data;
    if (offset >= d.size()) return size_t{0};
    size_t n = std::min(out.size(), static_cast<size_t>(d.size() - offset));
    std::memcpy(out.data(), d.data() + offset, n);
    node_->atime = now();
    return n;
  }

  Outcome<size_t> write(uint64_t offset, std::string_view data) override {
    if ((flags_ & O_ACCMODE) == O_RDONLY) return Errno{EBADF};
    if (!node_->is_file()) return Errno{EISDIR};
    if (flags_ & O_APPEND) offset = node_->data.size();
    if (offset > kMaxFileSize || data.size() > kMaxFileSize - offset) return Errno{EFBIG};
    uint64_t end = offset + data.size();
    if (end > node_->data.size()) {
      auto rs = st_->resize(*node_, end);
      if (!rs) return Errno{rs.error()};
    }
    std::memcpy(node_->data.data() + offset, data.data(), data.size());
    node_->mtime = node_->ctime = now();
    return data.size();
  }

  Outcome<Attr> stat() override { return attr_of(*node_); }
  Outcome<Attr> change(const AttrChange& c) override { return apply_change(*st_, *node_, c); }
  Status sync(bool) override { return ok_status(); }

 private:
  std::shared_ptr<MemoryProvider::State> st_;
  std::shared_ptr<Node> node_;
  int flags_;
};

Status open_checks(Node& n, int flags) {
  if (S_ISLNK(n.mode)) return Errno{ELOOP};
  if (n.is_dir() && (flags & O_ACCMODE) != O_RDONLY) return Errno{EISDIR};
  return ok_status();
}

}  // namespace

MemoryProvider::MemoryProvider() : MemoryProvider(Limits{}) {}

MemoryProvider::MemoryProvider(Limits limits) : state_(std::make_shared<State>()) {
  state_->limits = limits;
  state_->root = *state_->new_node(S_IFDIR | (limits.root_mode & 07777), Caller{});
}

MemoryProvider::~MemoryProvider() = default;

Outcome<Attr> MemoryProvider::stat(const std::string& path) {
  auto n = state_->find(path);
  if (!n) return Errno{n.error()};
  return attr_of(**n);
}

Outcome<std::vector<DirEntry>> MemoryProvider::list(const std::string& path) {
  auto n = state_->find(path);
  if (!n) return Errno{n.error()};
  if (!(*n)->is_dir()) return Errno{ENOTDIR};
  std::vector<DirEntry> out;
  out.reserve((*n)->children.size());
  for (auto& [name, child] : (*n)->children) {
    out.push_back(DirEntry{name, child->ino, child->mode & S_IFMT});
  }
  return out;
}

Outcome<std::unique_ptr<FileHandle>> MemoryProvider::open(const std::string& path, int flags) {
  auto n = state_->find(path);
  if (!n) return Errno{n.error()};
  auto chk = open_checks(**n, flags);
  if (!chk) return Errno{chk.error()};
  if ((flags & O_TRUNC) && (*n)->is_file() && (flags & O_ACCMODE) != O_RDONLY) {
    auto rs = state_->resize(**n, 0);
    if (!rs) return Errno{rs.error()};
    (*n)->mtime = (*n)->ctime = now();
  }
  return std::unique_ptr<FileHandle>(std::make_unique<MemoryFile>(state_, *n, flags));
}

Outcome<Created> MemoryProvider::create(const std::string& path, int flags, uint32_t mode,
                                        const Caller& caller) {
  auto s = state_->slot(path);
  if (!s) return Errno{s.error()};
  auto& children = s->dir->children;
  if (auto it = children.find(s->name); it != children.end()) {
    if (flags & O_EXCL) return Errno{EEXIST};
    auto h = open(path, flags);
    if (!h) return Errno{h.error()};
    return Created{attr_of(*it->second), std::move(*h)};
  }
  auto n = state_->new_node(S_IFREG | (mode & 07777), caller);
  if (!n) return Errno{n.error()};
  (*n)->links = 1;
  children.emplace(s->name, *n);
  touch_dir(*s->dir);
  return Created{attr_of(**n), std::make_unique<MemoryFile>(state_, *n, flags)};
}

Outcome<Attr> MemoryProvider::mkdir(const std::string& path, uint32_t mode, const Caller& caller) {
  auto s = state_->slot(path);
  if (!s) return Errno{s.error() == EBUSY ? EEXIST : s.error()};
  if (s->dir->children.count(s->name)) return Errno{EEXIST};
  auto n = state_->new_node(S_IFDIR | (mode & 07777), caller);
  if (!n) return Errno{n.error()};
  s->dir->children.emplace(s->name, *n);
  touch_dir(*s->dir);
  return attr_of(**n);
}

Outcome<Attr> MemoryProvider::symlink(const std::string& target, const std::string& path,
                                      const Caller& caller) {
  auto s = state_->slot(path);
  if (!s) return Errno{s.error() == EBUSY ? EEXIST : s.error()};
  if (s->dir->children.count(s->name)) return Errno{EEXIST};
  auto n = state_->new_node(S_IFLNK | 0777, caller);
  if (!n) return Errno{n.error()};
  auto rs = state_->resize(**n, target.size());
  if (!rs) return Errno{rs.error()};
  (*n)->data = target;
  (*n)->links = 1;
  s->dir->children.emplace(s->name, *n);
  touch_dir(*s->dir);
  return attr_of(**n);
}

Outcome<std::string> MemoryProvider::readlink(const std::string& path) {
  auto n = state_->find(path);
  if (!n) return Errno{n.error()};
  if (!S_ISLNK((*n)->mode)) return Errno{EINVAL};
  return (*n)->data;
}

Outcome<Attr> MemoryProvider::link(const std::string& existing, const std::string& new_path) {
  auto n = state_->find(existing);
  if (!n) return Errno{n.error()};
  if ((*n)->is_dir()) return Errno{EPERM};
  auto s = state_->slot(new_path);
  if (!s) return Errno{s.error() == EBUSY ? EEXIST : s.error()};
  if (s->dir->children.count(s->name)) return Errno{EEXIST};
  s->dir->children.emplace(s->name, *n);
  ++(*n)->links;
  (*n)->ctime = now();
  touch_dir(*s->dir);
  return attr_of(**n);
}

Status MemoryProvider::unlink(const std::string& path) {
  auto s = state_->slot(path);
  if (!s) return Errno{s.error()};
  auto it = s->dir->children.find(s->name);
  if (it == s->dir->children.end()) return Errno{ENOENT};
  if (it->second->is_dir()) return Errno{EISDIR};
  --it->second->links;
  it->second->ctime = now();
  s->dir->children.erase(it);  // an open handle keeps the node alive
  touch_dir(*s->dir);
  return ok_status();
}

Status MemoryProvider::rmdir(const std::string& path) {
  auto s = state_->slot(path);
  if (!s) return Errno{s.error()};
  auto it = s->dir->children.find(s->name);
  if (it == s->dir->children.end()) return Errno{ENOENT};
  if (!it->second->is_dir()) return Errno{ENOTDIR};
  if (!it->second->children.empty()) return Errno{ENOTEMPTY};
  s->dir->children.erase(it);
  touch_dir(*s->dir);
  return ok_status();
}

// rename(2) semantics: replace a file with a file or an empty directory with a directory; a
// directory never moves beneath itself.
Status MemoryProvider::rename(const std::string& from, const std::string& to, unsigned flags) {
  if (flags & ~unsigned{RENAME_NOREPLACE}) return Errno{EINVAL};  // RENAME_EXCHANGE unsupported
  auto src = state_->slot(from);
  if (!src) return Errno{src.error()};
  auto dst = state_->slot(to);
  if (!dst) return Errno{dst.error()};
  auto sit = src->dir->children.find(src->name);
  if (sit == src->dir->children.end()) return Errno{ENOENT};
  std::shared_ptr<Node> moving = sit->second;
  if (moving->is_dir() && to.size() > from.size() && to.compare(0, from.size(), from) == 0 &&
      to[from.size()] == '/') {
    return Errno{EINVAL};
  }
  auto dit = dst->dir->children.find(dst->name);
  if (dit != dst->dir->children.end()) {
    if (flags & RENAME_NOREPLACE) return Errno{EEXIST};
    Node& victim = *dit->second;
    if (dit->second == moving) return ok_status();  // same inode: rename(2) does nothing
    if (moving->is_dir() && !victim.is_dir()) return Errno{ENOTDIR};
    if (!moving->is_dir() && victim.is_dir()) return Errno{EISDIR};
    if (victim.is_dir() && !victim.children.empty()) return Errno{ENOTEMPTY};
    if (!victim.is_dir()) --victim.links;
    victim.ctime = now();
    dst->dir->children.erase(dit);
  }
  src->dir->children.erase(src->name);
  dst->dir->children.emplace(dst->name, moving);
  moving->ctime = now();
  touch_dir(*src->dir);
  touch_dir(*dst->dir);
  return ok_status();
}

Outcome<Attr> MemoryProvider::change(const std::string& path, const AttrChange& c) {
  auto n = state_->find(path);
  if (!n) return Errno{n.error()};
  return apply_change(*state_, **n, c);
}

Outcome<FsStats> MemoryProvider::statfs() {
  FsStats s;
  s.block_size = 4096;
  s.blocks = state_->limits.max_bytes / s.block_size;
  s.blocks_free = (state_->limits.max_bytes - state_->usage->bytes) / s.block_size;
  s.blocks_available = s.blocks_free;
  s.files = state_->limits.max_nodes;
  s.files_free = state_->limits.max_nodes - state_->usage->nodes;
  s.name_max = 255;
  return s;
}

}  // namespace matchlock::vfs
