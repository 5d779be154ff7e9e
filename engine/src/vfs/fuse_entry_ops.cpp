// FUSE ops on names and attributes: lookup, forget, getattr/setattr, symlinks, creating,
// removing, renaming and linking entries, statfs.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include "vfs/fuse_server.h"

namespace matchlock::vfs {
namespace {

constexpr size_t kMaxSymlinkTarget = 4095;

fuse_attr_out attr_out(const fuse_attr& a) {
  fuse_attr_out o{};
  o.attr_valid = 1;
  o.attr = a;
  return o;
}

}  // namespace

void FuseServer::lookup(Ctx& c) {
  auto in = fuse::decode_name(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  auto ws = child_path(c.node, in->name);
  if (!ws) return reply_error(c.unique, ws.error());
  std::string name(in->name);
  with_hooks(c, {make_op(FileOp::kStat, *ws, c.caller)}, {},
             [this, u = c.unique, parent = c.node, name, ws = *ws](auto&) -> Ran {
               return reply_new_entry(u, parent, name, stat_path(ws));
             });
}

void FuseServer::forget(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_forget_in>(c.req);
  if (in) nodes_.forget(c.node, in->nlookup);  // FORGET has no reply
}

void FuseServer::batch_forget(Ctx& c) {
  auto all = fuse::decode_batch_forget(c.req);
  if (!all) return;
  for (const fuse_forget_one& one : *all) nodes_.forget(one.nodeid, one.nlookup);
}

// Through the handle when the kernel names one (fstat) or when the node has no path any more
// (an unlinked file still open).
FuseServer::OpenFile* FuseServer::handle_for_attr(uint64_t node, bool has_fh, uint64_t fh) {
  OpenFile* h = has_fh ? handle_of(fh) : nullptr;
  if (h && (!h->file || h->node != node)) h = nullptr;
  if (!h && !nodes_.path_of(node)) h = any_handle_of_node(node);
  return h;
}

void FuseServer::getattr(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_getattr_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  bool has_fh = in->getattr_flags & FUSE_GETATTR_FH;
  OpenFile* h = handle_for_attr(c.node, has_fh, in->fh);
  auto ws = node_path(c.node);
  if (!h && !ws) return reply_error(c.unique, ws.error());
  std::string path = ws ? *ws : h->ws;
  with_hooks(c, {make_op(FileOp::kStat, path, c.caller)}, {},
             [this, u = c.unique, node = c.node, has_fh, fh = in->fh, path](auto&) -> Ran {
               OpenFile* h = handle_for_attr(node, has_fh, fh);
               Outcome<Attr> a = h ? h->file->stat() : stat_path(path);
               if (a && h) a->ino = map_ino(mounts_.serving(h->ws).mount, a->ino);
               if (!a) {
                 reply_error(u, a.error());
                 return Ran{a.error(), 0};
               }
               reply_struct(u, attr_out(fuse_attr_of(*a)));
               return Ran{};
             });
}

namespace {

AttrChange change_of(const fuse_setattr_in& in) {
  AttrChange ch;
  if (in.valid & FATTR_MODE) ch.mode = in.mode & 07777;
  if (in.valid & FATTR_UID) ch.uid = in.uid;
  if (in.valid & FATTR_GID) ch.gid = in.gid;
  if (in.valid & FATTR_SIZE) ch.size = in.size;
  if (in.valid & FATTR_ATIME) {
    ch.atime = (in.valid & FATTR_ATIME_NOW)
                   ? timespec{0, UTIME_NOW}
                   : timespec{static_cast<time_t>(in.atime), static_cast<long>(in.atimensec)};
  }
  if (in.valid & FATTR_MTIME) {
    ch.mtime = (in.valid & FATTR_MTIME_NOW)
                   ? timespec{0, UTIME_NOW}
                   : timespec{static_cast<time_t>(in.mtime), static_cast<long>(in.mtimensec)};
  }
  return ch;
}

}  // namespace

// One SETATTR may change several things; each is its own hook op (truncate, chmod, chown,
// utimens) so a rule on any of them cannot be sidestepped by combining them.
void FuseServer::setattr(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_setattr_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  if (in->atimensec >= 1000000000 || in->mtimensec >= 1000000000) {
    return reply_error(c.unique, EINVAL);
  }
  AttrChange ch = change_of(*in);
  bool has_fh = in->valid & FATTR_FH;
  OpenFile* h = handle_for_attr(c.node, has_fh, in->fh);
  auto ws = node_path(c.node);
  if (!h && !ws) return reply_error(c.unique, ws.error());
  std::string path = ws ? *ws : h->ws;
  std::vector<FileOperation> ops;
  if (ch.size) {
    ops.push_back(make_op(FileOp::kTruncate, path, c.caller));
    ops.back().offset = *ch.size;
  }
  if (ch.mode) {
    ops.push_back(make_op(FileOp::kChmod, path, c.caller));
    ops.back().mode = *ch.mode;
  }
  if (ch.uid || ch.gid) ops.push_back(make_op(FileOp::kChown, path, c.caller));
  if (ch.atime || ch.mtime) ops.push_back(make_op(FileOp::kUtimens, path, c.caller));
  with_hooks(c, std::move(ops), {},
             [this, u = c.unique, node = c.node, has_fh, fh = in->fh, path, ch](auto&) -> Ran {
               OpenFile* h = handle_for_attr(node, has_fh, fh);
               Outcome<Attr> a = Errno{EROFS};
               if (h) {
                 a = mounts_.serving(h->ws).mount->provider->read_only()
                         ? Outcome<Attr>(Errno{EROFS})
                         : h->file->change(ch);
                 if (a) a->ino = map_ino(mounts_.serving(h->ws).mount, a->ino);
               } else if (auto t = mutable_target(path); t || t.error() != EBUSY) {
                 a = t ? t->mount->provider->change(t->path, ch) : Outcome<Attr>(Errno{t.error()});
                 if (a) a->ino = map_ino(t->mount, a->ino);
               } else if (mounts_.is_mount_point(path)) {  // a mount's root may change
                 auto r = mounts_.resolve(path);
                 a = r.mount->provider->read_only() ? Outcome<Attr>(Errno{EROFS})
                                                    : r.mount->provider->change(r.path, ch);
                 if (a) a->ino = map_ino(r.mount, a->ino);
               }
               if (!a) {
                 reply_error(u, a.error());
                 return Ran{a.error(), 0};
               }
               reply_struct(u, attr_out(fuse_attr_of(*a)));
               return Ran{};
             });
}

void FuseServer::readlink(Ctx& c) {
  auto ws = node_path(c.node);
  if (!ws) return reply_error(c.unique, ws.error());
  with_hooks(c, {make_op(FileOp::kReadlink, *ws, c.caller)}, {},
             [this, u = c.unique, ws = *ws](auto&) -> Ran {
               auto r = mounts_.resolve(ws);
               Outcome<std::string> t = r.mount ? r.mount->provider->readlink(r.path)
                                                : Outcome<std::string>(Errno{EINVAL});
               if (!t) {
                 reply_error(u, t.error());
                 return Ran{t.error(), 0};
               }
               reply(u, *t);
               return Ran{0, t->size()};
             });
}

void FuseServer::symlink(Ctx& c) {
  auto in = fuse::decode_symlink(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  if (in->target.empty()) return reply_error(c.unique, ENOENT);
  if (in->target.size() > kMaxSymlinkTarget) return reply_error(c.unique, ENAMETOOLONG);
  auto ws = child_path(c.node, in->name);
  if (!ws) return reply_error(c.unique, ws.error());
  auto t = new_entry_target(*ws);
  if (!t) return reply_error(c.unique, t.error());
  FileOperation op = make_op(FileOp::kSymlink, *ws, c.caller);
  op.path = std::string(in->target);
  op.new_path = guest_path(*ws);
  with_hooks(c, {op}, {},
             [this, u = c.unique, parent = c.node, name = std::string(in->name), ws = *ws,
              target = std::string(in->target), caller = c.caller](auto&) -> Ran {
               auto t = new_entry_target(ws);
               Outcome<Attr> a = t ? t->mount->provider->symlink(target, t->path, caller)
                                   : Outcome<Attr>(Errno{t.error()});
               return reply_new_entry(u, parent, name, std::move(a), t ? t->mount : nullptr);
             });
}

// MKNOD makes regular files only (no devices, fifos or sockets in the workspace).
void FuseServer::mknod(Ctx& c) {
  auto in = fuse::decode_mknod(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  if (!S_ISREG(in->in.mode)) return reply_error(c.unique, EPERM);
  auto ws = child_path(c.node, in->name);
  if (!ws) return reply_error(c.unique, ws.error());
  auto t = new_entry_target(*ws);
  if (!t) return reply_error(c.unique, t.error());
  FileOperation op = make_op(FileOp::kCreate, *ws, c.caller);
  op.mode = in->in.mode & 07777;
  with_hooks(c, {op}, {},
             [this, u = c.unique, parent = c.node, name = std::string(in->name), ws = *ws,
              mode = op.mode, caller = c.caller](auto&) -> Ran {
               auto t = new_entry_target(ws);
               Outcome<Created> cr = t ? t->mount->provider->create(
                                             t->path, O_WRONLY | O_CREAT | O_EXCL, mode, caller)
                                       : Outcome<Created>(Errno{t.error()});
               return reply_new_entry(
                   u, parent, name, cr ? Outcome<Attr>(cr->attr) : Outcome<Attr>(Errno{cr.error()}),
                   t ? t->mount : nullptr);
             });
}

void FuseServer::mkdir(Ctx& c) {
  auto in = fuse::decode_mkdir(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  auto ws = child_path(c.node, in->name);
  if (!ws) return reply_error(c.unique, ws.error());
  auto t = new_entry_target(*ws);
  if (!t) return reply_error(c.unique, t.error());
  FileOperation op = make_op(FileOp::kMkdir, *ws, c.caller);
  op.mode = in->in.mode & 07777;
  with_hooks(c, {op}, {},
             [this, u = c.unique, parent = c.node, name = std::string(in->name), ws = *ws,
              mode = op.mode, caller = c.caller](auto&) -> Ran {
               auto t = new_entry_target(ws);
               Outcome<Attr> a = t ? t->mount->provider->mkdir(t->path, mode, caller)
                                   : Outcome<Attr>(Errno{t.error()});
               return reply_new_entry(u, parent, name, std::move(a), t ? t->mount : nullptr);
             });
}

void FuseServer::remove(Ctx& c, bool dir) {
  auto in = fuse::decode_name(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  auto ws = child_path(c.node, in->name);
  if (!ws) return reply_error(c.unique, ws.error());
  auto t = mutable_target(*ws);
  if (!t) return reply_error(c.unique, t.error());
  with_hooks(c, {make_op(FileOp::kRemove, *ws, c.caller)}, {},
             [this, u = c.unique, parent = c.node, name = std::string(in->name), ws = *ws,
              dir](auto&) -> Ran {
               auto t = mutable_target(ws);
               Status st = !t    ? Status(Errno{t.error()})
                           : dir ? t->mount->provider->rmdir(t->path)
                                 : t->mount->provider->unlink(t->path);
               if (!st) {
                 reply_error(u, st.error());
                 return Ran{st.error(), 0};
               }
               nodes_.removed(parent, name);
               reply(u, {});
               return Ran{};
             });
}

void FuseServer::rename(Ctx& c, bool v2) {
  auto in = v2 ? fuse::decode_rename2(c.req) : fuse::decode_rename(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  if (in->flags & ~unsigned{RENAME_NOREPLACE | RENAME_EXCHANGE}) {
    return reply_error(c.unique, EINVAL);  // RENAME_WHITEOUT and unknown flags
  }
  auto from = child_path(c.node, in->old_name);
  if (!from) return reply_error(c.unique, from.error());
  auto to = child_path(in->new_dir, in->new_name);
  if (!to) return reply_error(c.unique, to.error());
  auto a = mutable_target(*from);
  if (!a) return reply_error(c.unique, a.error());
  auto b = mutable_target(*to);
  if (!b) return reply_error(c.unique, b.error());
  if (a->mount != b->mount) return reply_error(c.unique, EXDEV);
  FileOperation op = make_op(FileOp::kRename, *from, c.caller);
  op.new_path = guest_path(*to);
  with_hooks(c, {op}, {},
             [this, u = c.unique, old_dir = c.node, old_name = std::string(in->old_name),
              new_dir = in->new_dir, new_name = std::string(in->new_name), from = *from, to = *to,
              flags = in->flags](auto&) -> Ran {
               auto a = mutable_target(from);
               auto b = mutable_target(to);
               Status st = !a   ? Status(Errno{a.error()})
                           : !b ? Status(Errno{b.error()})
                           : a->mount != b->mount
                               ? Status(Errno{EXDEV})
                               : a->mount->provider->rename(a->path, b->path, flags);
               if (!st) {
                 reply_error(u, st.error());
                 return Ran{st.error(), 0};
               }
               if (flags & RENAME_EXCHANGE) {
                 nodes_.exchanged(old_dir, old_name, new_dir, new_name);
               } else {
                 nodes_.renamed(old_dir, old_name, new_dir, new_name);
               }
               reply(u, {});
               return Ran{};
             });
}

void FuseServer::link(Ctx& c) {
  auto in = fuse::decode_link(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  auto from = node_path(in->old_node);
  if (!from) return reply_error(c.unique, from.error());
  auto to = child_path(c.node, in->name);
  if (!to) return reply_error(c.unique, to.error());
  auto a = mutable_target(*from);
  if (!a) return reply_error(c.unique, a.error() == EBUSY ? EPERM : a.error());
  auto b = new_entry_target(*to);
  if (!b) return reply_error(c.unique, b.error());
  if (a->mount != b->mount) return reply_error(c.unique, EXDEV);
  FileOperation op = make_op(FileOp::kLink, *from, c.caller);
  op.new_path = guest_path(*to);
  with_hooks(c, {op}, {},
             [this, u = c.unique, parent = c.node, name = std::string(in->name), from = *from,
              to = *to](auto&) -> Ran {
               auto a = mutable_target(from);
               auto b = new_entry_target(to);
               Outcome<Attr> r = !a   ? Outcome<Attr>(Errno{a.error()})
                                 : !b ? Outcome<Attr>(Errno{b.error()})
                                 : a->mount != b->mount
                                     ? Outcome<Attr>(Errno{EXDEV})
                                     : a->mount->provider->link(a->path, b->path);
               return reply_new_entry(u, parent, name, std::move(r), a ? a->mount : nullptr);
             });
}

// The numbers of the mount holding the node (`df /workspace/data` describes data's
// provider); the workspace root's when the node is unknown or detached.
void FuseServer::statfs(Ctx& c) {
  auto ws = node_path(c.node);
  auto r = mounts_.serving(ws ? *ws : std::string());
  auto s = r.mount->provider->statfs();
  if (!s) return reply_error(c.unique, s.error());
  fuse_statfs_out out{};
  out.st.blocks = s->blocks;
  out.st.bfree = s->blocks_free;
  out.st.bavail = s->blocks_available;
  out.st.files = s->files;
  out.st.ffree = s->files_free;
  out.st.bsize = s->block_size;
  out.st.frsize = s->block_size;
  out.st.namelen = s->name_max;
  reply_struct(c.unique, out);
}

}  // namespace matchlock::vfs
