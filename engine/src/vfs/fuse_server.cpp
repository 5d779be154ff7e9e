#include "vfs/fuse_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <functional>

#include "core/log.h"
#include "vfs/io_vectors.h"
#include "vfs/vfs_service.h"

namespace matchlock::vfs {
namespace {

// The oldest protocol minor whose request layouts this server decodes (fuse_getattr_in,
// fuse_write_in with lock_owner, fuse_mknod_in with umask, fuse_create_in with umask).
constexpr uint32_t kMinMinor = 12;
constexpr uint32_t kMaxPages = kMaxRead / 4096;

// Features asked of the kernel (see the VFS design): parallel and large I/O, O_TRUNC handled
// by open, cached symlinks, page cache dropped when a file changes under it.
constexpr uint64_t kWantedFlags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ATOMIC_O_TRUNC |
                                  FUSE_PARALLEL_DIROPS | FUSE_AUTO_INVAL_DATA |
                                  FUSE_CACHE_SYMLINKS | FUSE_MAX_PAGES;

}  // namespace

fuse_attr fuse_attr_of(const Attr& a) {
  fuse_attr f{};
  f.ino = a.ino;
  f.size = a.size;
  f.blocks = a.blocks;
  f.atime = static_cast<uint64_t>(a.atime.tv_sec);
  f.mtime = static_cast<uint64_t>(a.mtime.tv_sec);
  f.ctime = static_cast<uint64_t>(a.ctime.tv_sec);
  f.atimensec = static_cast<uint32_t>(a.atime.tv_nsec);
  f.mtimensec = static_cast<uint32_t>(a.mtime.tv_nsec);
  f.ctimensec = static_cast<uint32_t>(a.ctime.tv_nsec);
  f.mode = a.mode;
  f.nlink = a.nlink;
  f.uid = a.uid;
  f.gid = a.gid;
  f.rdev = a.rdev;
  f.blksize = 4096;
  return f;
}

int name_error(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return EINVAL;
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos) {
    return EINVAL;
  }
  if (name.size() > 255) return ENAMETOOLONG;
  return 0;
}

FuseServer::FuseServer(MountTable mounts, std::string workspace, std::shared_ptr<VfsHooks> hooks,
                       Send send)
    : FuseServer(std::move(mounts), std::move(workspace), std::move(hooks), std::move(send),
                 Limits{}) {}

FuseServer::FuseServer(MountTable mounts, std::string workspace, std::shared_ptr<VfsHooks> hooks,
                       Send send, Limits limits)
    : mounts_(std::move(mounts)),
      workspace_(std::move(workspace)),
      hooks_(std::move(hooks)),
      send_(std::move(send)),
      limits_(limits),
      nodes_(limits.max_nodes) {}

FuseServer::~FuseServer() = default;

void FuseServer::close_handles() {
  handles_.clear();
  alive_ = std::make_shared<int>(0);  // answers to hooks asked before now are dropped
  waiting_ = 0;
}

void FuseServer::handle(std::string message, const InPlaceData& in_place) {
  auto msg = std::make_shared<const std::string>(std::move(message));
  auto req = fuse::parse_request(std::span<const char>(msg->data(), msg->size()),
                                 total_bytes(in_place.write_payload));
  if (!req) {
    // The service only hands over whole messages, so this is a lying header: refuse it.
    log::warn("vfs: malformed FUSE request (length does not match)");
    if (msg->size() >= sizeof(fuse_in_header)) {
      reply_error(fuse::unique_of(std::span<const char>(msg->data(), msg->size())), EINVAL);
    }
    return;
  }
  Ctx c{msg,
        *req,
        req->header.unique,
        req->header.nodeid,
        Caller{req->header.uid, req->header.gid, req->header.pid},
        &in_place};
  dispatch(c);
}

// One case per opcode: the switch is long because the protocol has many ops, each a line.
void FuseServer::dispatch(Ctx& c) {
  uint32_t op = c.req.header.opcode;
  if (op == FUSE_INIT) return init(c);
  if (op == FUSE_INTERRUPT) return;  // no reply: requests here finish on their own
  if (!initialized_) return reply_error(c.unique, EIO);
  switch (op) {
    case FUSE_LOOKUP:
      return lookup(c);
    case FUSE_FORGET:
      return forget(c);
    case FUSE_BATCH_FORGET:
      return batch_forget(c);
    case FUSE_GETATTR:
      return getattr(c);
    case FUSE_SETATTR:
      return setattr(c);
    case FUSE_READLINK:
      return readlink(c);
    case FUSE_SYMLINK:
      return symlink(c);
    case FUSE_MKNOD:
      return mknod(c);
    case FUSE_MKDIR:
      return mkdir(c);
    case FUSE_UNLINK:
      return remove(c, false);
    case FUSE_RMDIR:
      return remove(c, true);
    case FUSE_RENAME:
      return rename(c, false);
    case FUSE_RENAME2:
      return rename(c, true);
    case FUSE_LINK:
      return link(c);
    case FUSE_OPEN:
      return open(c);
    case FUSE_CREATE:
      return create(c);
    case FUSE_READ:
      return read(c);
    case FUSE_WRITE:
      return write(c);
    case FUSE_STATFS:
      return statfs(c);
    case FUSE_RELEASE:
      return release(c);
    case FUSE_FSYNC:
      return fsync(c);
    case FUSE_FLUSH:
      return reply(c.unique, {});
    case FUSE_OPENDIR:
      return opendir(c);
    case FUSE_READDIR:
      return readdir(c);
    case FUSE_RELEASEDIR:
      return releasedir(c);
    case FUSE_FSYNCDIR:
      return reply(c.unique, {});
    case FUSE_DESTROY:
      close_handles();
      return reply(c.unique, {});
    default:
      // ACCESS (permissions are checked here, on each op), xattrs, FALLOCATE, LSEEK, locks,
      // READDIRPLUS (not negotiated) and anything newer: the kernel remembers ENOSYS.
      return reply_error(c.unique, ENOSYS);
  }
}

void FuseServer::init(Ctx& c) {
  auto in = fuse::decode_init(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  if (initialized_) return reply_error(c.unique, EPROTO);
  if (in->major != FUSE_KERNEL_VERSION || in->minor < kMinMinor) {
    log::warn("vfs: guest kernel speaks FUSE " + std::to_string(in->major) + "." +
              std::to_string(in->minor) + "; refused");
    return reply_error(c.unique, EPROTO);
  }
  uint64_t offered = in->flags;
  if (offered & FUSE_INIT_EXT) offered |= static_cast<uint64_t>(in->flags2) << 32;
  uint64_t flags = offered & kWantedFlags;
  fuse_init_out out{};
  out.major = FUSE_KERNEL_VERSION;
  out.minor = FUSE_KERNEL_MINOR_VERSION;
  out.max_readahead = in->max_readahead;
  out.flags = static_cast<uint32_t>(flags);
  out.max_background = 64;
  out.congestion_threshold = 48;
  out.max_write = kMaxWrite;
  out.time_gran = 1;
  out.max_pages = kMaxPages;
  initialized_ = true;
  size_t size = in->minor < 23 ? FUSE_COMPAT_22_INIT_OUT_SIZE : sizeof(out);
  reply(c.unique, std::string_view(reinterpret_cast<const char*>(&out), size));
}

// A small chain: each before-hook may answer later, so the next step runs from its callback.
void FuseServer::with_hooks(const Ctx& c, std::vector<FileOperation> ops, std::string_view data,
                            Run run) {
  struct Chain {
    std::vector<FileOperation> ops;
    size_t next = 0;
    std::optional<std::string> replace;
    std::shared_ptr<const std::string> keep;  // `data` points into it
    std::string_view data;
    uint64_t unique = 0;
    Run run;
  };
  auto chain = std::make_shared<Chain>(
      Chain{std::move(ops), 0, std::nullopt, c.message, data, c.unique, std::move(run)});
  auto finish = [this](Chain& ch, Ran r) {
    if (!hooks_) return;
    for (FileOperation& op : ch.ops) {
      op.size = r.size;
      hooks_->after(op, r.error);
    }
  };
  auto step = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weak_step = step;
  *step = [this, chain, finish, weak_step]() {
    while (hooks_ && chain->next < chain->ops.size()) {
      const FileOperation& op = chain->ops[chain->next++];
      if (!hooks_->wants_before(op)) continue;
      if (waiting_ >= limits_.max_waiting) {
        reply_error(chain->unique, EAGAIN);
        return finish(*chain, Ran{EAGAIN, 0});
      }
      ++waiting_;
      std::weak_ptr<int> alive = alive_;
      auto again = weak_step.lock();
      hooks_->before(op, chain->data, [this, alive, chain, finish, again](HookDecision d) {
        if (alive.expired()) return;  // the server (or its channel) is gone
        --waiting_;
        if (d.error > 0) {
          reply_error(chain->unique, d.error);
          return finish(*chain, Ran{d.error, 0});
        }
        if (d.replace) chain->replace = std::move(d.replace);
        (*again)();
      });
      return;
    }
    finish(*chain, chain->run(chain->replace));
  };
  // The callbacks above hold `step` alive while a hook is pending; once the chain ends nothing
  // refers to it.
  (*step)();
}

void FuseServer::reply_error(uint64_t unique, int err) {
  send_(fuse::encode_error(unique, err), 0);
}

void FuseServer::reply(uint64_t unique, std::string_view body) {
  send_(fuse::encode_reply(unique, body), 0);
}

void FuseServer::reply_entry(uint64_t unique, uint64_t node, const Attr& attr) {
  fuse_entry_out e{};
  e.nodeid = node;
  e.generation = 0;  // ids are never reused
  e.entry_valid = 1;
  e.attr_valid = 1;
  e.attr = fuse_attr_of(attr);
  reply_struct(unique, e);
}

FuseServer::Ran FuseServer::reply_new_entry(uint64_t unique, uint64_t parent,
                                            const std::string& name, Outcome<Attr> attr,
                                            const Mount* mount) {
  if (!attr) {
    reply_error(unique, attr.error());
    return Ran{attr.error(), 0};
  }
  if (mount) attr->ino = map_ino(mount, attr->ino);
  auto id = nodes_.lookup(parent, name);
  if (!id) {
    reply_error(unique, id.error());
    return Ran{id.error(), 0};
  }
  reply_entry(unique, *id, *attr);
  return Ran{};
}

Outcome<std::string> FuseServer::node_path(uint64_t node) const {
  auto p = nodes_.path_of(node);
  if (!p) return Errno{ENOENT};
  return *p;
}

Outcome<std::string> FuseServer::child_path(uint64_t parent, std::string_view name) const {
  if (int e = name_error(name)) return Errno{e};
  auto p = node_path(parent);
  if (!p) return p;
  return p->empty() ? std::string(name) : *p + "/" + std::string(name);
}

std::string FuseServer::guest_path(const std::string& ws) const {
  return ws.empty() ? workspace_ : workspace_ + "/" + ws;
}

FileOperation FuseServer::make_op(FileOp op, const std::string& ws, const Caller& caller) const {
  FileOperation f;
  f.op = op;
  f.path = guest_path(ws);
  f.uid = caller.uid;
  f.gid = caller.gid;
  f.pid = caller.pid;
  return f;
}

uint64_t FuseServer::map_ino(const Mount* m, uint64_t ino) const {
  // Keep inode numbers of different mounts apart: the root mount's pass through.
  const auto& all = mounts_.mounts();
  uint64_t ordinal = static_cast<uint64_t>(all.size() - 1 - static_cast<size_t>(m - all.data()));
  return ino ^ (ordinal << 48);
}

// A synthesised directory shows the provider's own directory if it has one.
Outcome<Attr> FuseServer::stat_path(const std::string& ws) {
  auto r = mounts_.resolve(ws);
  if (r.mount) {
    auto a = r.mount->provider->stat(r.path);
    if (a) a->ino = map_ino(r.mount, a->ino);
    return a;
  }
  auto s = mounts_.serving(ws);
  auto a = s.mount->provider->stat(s.path);
  if (a && S_ISDIR(a->mode)) {
    a->ino = map_ino(s.mount, a->ino);
    return a;
  }
  Attr syn;
  syn.ino = (std::hash<std::string>{}(ws) | (uint64_t{1} << 63));
  syn.mode = S_IFDIR | 0555;
  syn.nlink = 2;
  return syn;
}

Outcome<MountTable::Resolved> FuseServer::mutable_target(const std::string& ws) const {
  if (mounts_.is_mount_point(ws) || mounts_.is_synthesised(ws)) return Errno{EBUSY};
  return new_entry_target(ws);
}

Outcome<MountTable::Resolved> FuseServer::new_entry_target(const std::string& ws) const {
  auto r = mounts_.resolve(ws);
  if (!r.mount) return Errno{EEXIST};  // a synthesised directory is already there
  if (r.mount->provider->read_only()) return Errno{EROFS};
  return r;
}

FuseServer::OpenFile* FuseServer::handle_of(uint64_t fh) {
  auto it = handles_.find(fh);
  return it == handles_.end() ? nullptr : &it->second;
}

FuseServer::OpenFile* FuseServer::any_handle_of_node(uint64_t node) {
  for (auto& [fh, f] : handles_) {
    if (f.node == node && f.file) return &f;
  }
  return nullptr;
}

Outcome<uint64_t> FuseServer::add_handle(OpenFile f) {
  if (handles_.size() >= limits_.max_handles) return Errno{EMFILE};
  uint64_t fh = next_fh_++;
  handles_.emplace(fh, std::move(f));
  return fh;
}

}  // namespace matchlock::vfs
