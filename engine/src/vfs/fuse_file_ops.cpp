// FUSE ops on open files: open, create, read, write, release, fsync.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <ctime>

#include "vfs/fuse_server.h"
#include "vfs/io_vectors.h"
#include "vfs/vfs_service.h"

namespace matchlock::vfs {
namespace {

bool writes(int flags) {
  return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

// Direct I/O (no page cache in the guest) for a write-only open of a file the guest holds no
// cached pages of: one it creates, or one this open truncates. The data then crosses once, in
// place, instead of being copied into the guest's page cache first (1.5-2x faster under TCG).
// A write-only fd cannot be mmapped, so shared mappings (which direct I/O refuses on the
// guest's 6.1 kernel) are unaffected; other openers keep their page cache, kept coherent by
// write() moving the mtime (see there).
bool direct_io_for(int flags, bool created) {
  return (flags & O_ACCMODE) == O_WRONLY && (created || (flags & O_TRUNC));
}

// The kernel drops another opener's cached pages of a file when its mtime changed since it
// cached them (FUSE_AUTO_INVAL_DATA). A direct write bypasses those pages, and the host's
// coarse clock may leave the mtime unchanged between two writes a few ms apart, so each direct
// write sets it from the fine-grained clock.
void move_mtime(FileHandle& file) {
  AttrChange change;
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  change.mtime = now;
  (void)file.change(change);  // best effort: the write itself succeeded
}

}  // namespace

void FuseServer::open(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_open_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  auto ws = node_path(c.node);
  if (!ws) return reply_error(c.unique, ws.error());
  int flags = static_cast<int>(in->flags);
  with_hooks(c, {make_op(FileOp::kOpen, *ws, c.caller)}, {},
             [this, u = c.unique, node = c.node, ws = *ws, flags](auto&) -> Ran {
               auto r = mounts_.resolve(ws);
               if (!r.mount) {
                 reply_error(u, EISDIR);
                 return Ran{EISDIR, 0};
               }
               int err = 0;
               if (handles_.size() >= limits_.max_handles) err = EMFILE;
               if (!err && writes(flags) && r.mount->provider->read_only()) err = EROFS;
               auto f = err ? Outcome<std::unique_ptr<FileHandle>>(Errno{err})
                            : r.mount->provider->open(r.path, flags);
               if (!f) {
                 reply_error(u, f.error());
                 return Ran{f.error(), 0};
               }
               const bool direct = direct_io_for(flags, false);
               auto fh = add_handle(OpenFile{node, ws, std::move(*f), {}, direct});
               if (!fh) {
                 reply_error(u, fh.error());
                 return Ran{fh.error(), 0};
               }
               fuse_open_out out{};
               out.fh = *fh;
               if (direct) out.open_flags = FOPEN_DIRECT_IO;
               reply_struct(u, out);
               return Ran{};
             });
}

void FuseServer::create(Ctx& c) {
  auto in = fuse::decode_create(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  if (in->in.mode && !S_ISREG(in->in.mode)) return reply_error(c.unique, EPERM);
  auto ws = child_path(c.node, in->name);
  if (!ws) return reply_error(c.unique, ws.error());
  auto t = new_entry_target(*ws);
  if (!t) return reply_error(c.unique, t.error());
  FileOperation op = make_op(FileOp::kCreate, *ws, c.caller);
  op.mode = in->in.mode & 07777;
  with_hooks(
      c, {op}, {},
      [this, u = c.unique, parent = c.node, name = std::string(in->name), ws = *ws,
       flags = static_cast<int>(in->in.flags), mode = op.mode, caller = c.caller](auto&) -> Ran {
        auto t = new_entry_target(ws);
        int err = t ? 0 : t.error();
        if (!err && handles_.size() >= limits_.max_handles) err = EMFILE;
        auto cr = err ? Outcome<Created>(Errno{err})
                      : t->mount->provider->create(t->path, flags, mode, caller);
        if (!cr) {
          reply_error(u, cr.error());
          return Ran{cr.error(), 0};
        }
        auto id = nodes_.lookup(parent, name);
        if (!id) {
          reply_error(u, id.error());
          return Ran{id.error(), 0};
        }
        const bool direct = direct_io_for(flags, true);
        auto fh = add_handle(OpenFile{*id, ws, std::move(cr->handle), {}, direct});
        if (!fh) {  // cannot happen: checked above; undo the lookup the kernel will not see
          nodes_.forget(*id, 1);
          reply_error(u, fh.error());
          return Ran{fh.error(), 0};
        }
        cr->attr.ino = map_ino(t->mount, cr->attr.ino);
        struct {
          fuse_entry_out entry;
          fuse_open_out open;
        } out{};
        out.entry.nodeid = *id;
        out.entry.entry_valid = 1;
        out.entry.attr_valid = 1;
        out.entry.attr = fuse_attr_of(cr->attr);
        out.open.fh = *fh;
        if (direct) out.open.open_flags = FOPEN_DIRECT_IO;
        reply_struct(u, out);
        return Ran{};
      });
}

void FuseServer::read(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_read_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  OpenFile* f = handle_of(in->fh);
  if (!f || !f->file) return reply_error(c.unique, EBADF);
  size_t size = std::min<size_t>(in->size, kMaxRead);  // the guest's size is only a wish
  FileOperation op = make_op(FileOp::kRead, nodes_.path_of(f->node).value_or(f->ws), c.caller);
  op.offset = in->offset;
  op.size = size;
  // The file's bytes go straight into the guest's reply room. Without one, or when a
  // before-hook may hold the request (the room is valid only during handle(); without such a
  // hook with_hooks runs now), they go into a buffer sent with the reply.
  std::vector<iovec> room;
  if (!(hooks_ && hooks_->wants_before(op))) room = first_bytes(c.in_place->reply_room, size);
  with_hooks(
      c, {op}, {},
      [this, u = c.unique, fh = in->fh, offset = in->offset, size, room = std::move(room)](auto&) {
        OpenFile* f = handle_of(fh);
        if (!f || !f->file) {
          reply_error(u, EBADF);
          return Ran{EBADF, 0};
        }
        const bool in_place = !room.empty();
        std::string buf(in_place ? 0 : size, '\0');
        const iovec own{buf.data(), buf.size()};
        auto n = f->file->read_into(
            offset, in_place ? std::span<const iovec>(room) : std::span<const iovec>(&own, 1));
        if (!n) {
          reply_error(u, n.error());
          return Ran{n.error(), 0};
        }
        if (in_place) {
          send_(fuse::encode_placed_reply(u, *n), *n);
        } else {
          buf.resize(*n);
          reply(u, buf);
        }
        return Ran{0, *n};
      });
}

// A before-hook may replace the bytes; the guest is still told its own length was written.
void FuseServer::write(Ctx& c) {
  auto in = fuse::decode_write(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  OpenFile* f = handle_of(in->in.fh);
  if (!f || !f->file) return reply_error(c.unique, EBADF);
  FileOperation op = make_op(FileOp::kWrite, nodes_.path_of(f->node).value_or(f->ws), c.caller);
  op.offset = in->in.offset;
  op.size = in->in.size;
  // In-place data is written from the guest's RAM as it is, unless a before-hook reads it: it
  // then gets (and may keep) a copy, since the request may wait past handle().
  std::vector<iovec> payload = c.in_place->write_payload;
  std::shared_ptr<const std::string> copied;
  std::string_view data = in->data;
  if (!payload.empty() && hooks_ && hooks_->wants_before(op)) {
    copied = std::make_shared<const std::string>(gather(payload));
    data = *copied;
    payload.clear();
  }
  with_hooks(
      c, {op}, data,
      [this, u = c.unique, fh = in->in.fh, offset = in->in.offset, size = in->in.size, data,
       payload = std::move(payload), copied](const std::optional<std::string>& replace) -> Ran {
        OpenFile* f = handle_of(fh);
        if (!f || !f->file) {
          reply_error(u, EBADF);
          return Ran{EBADF, 0};
        }
        if (mounts_.serving(f->ws).mount->provider->read_only()) {
          reply_error(u, EROFS);
          return Ran{EROFS, 0};
        }
        auto n = replace            ? f->file->write(offset, *replace)
                 : !payload.empty() ? f->file->write_from(offset, payload)
                                    : f->file->write(offset, data);
        if (!n) {
          reply_error(u, n.error());
          return Ran{n.error(), 0};
        }
        if (f->direct_io) move_mtime(*f->file);
        fuse_write_out out{};
        out.size = replace ? size : static_cast<uint32_t>(*n);
        reply_struct(u, out);
        return Ran{0, *n};
      });
}

// RELEASE cannot fail for the guest, so hooks only observe it (no before).
void FuseServer::release(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_release_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  auto it = handles_.find(in->fh);
  if (it == handles_.end() || !it->second.file) return reply_error(c.unique, EBADF);
  FileOperation op =
      make_op(FileOp::kClose, nodes_.path_of(it->second.node).value_or(it->second.ws), c.caller);
  handles_.erase(it);
  reply(c.unique, {});
  if (hooks_) hooks_->after(op, 0);
}

void FuseServer::fsync(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_fsync_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  OpenFile* f = handle_of(in->fh);
  if (!f || !f->file) return reply_error(c.unique, EBADF);
  FileOperation op = make_op(FileOp::kSync, nodes_.path_of(f->node).value_or(f->ws), c.caller);
  with_hooks(c, {op}, {},
             [this, u = c.unique, fh = in->fh, data_only = (in->fsync_flags & 1) != 0](auto&) {
               OpenFile* f = handle_of(fh);
               Status st = f && f->file ? f->file->sync(data_only) : Status(Errno{EBADF});
               if (!st) {
                 reply_error(u, st.error());
                 return Ran{st.error(), 0};
               }
               reply(u, {});
               return Ran{};
             });
}

}  // namespace matchlock::vfs
