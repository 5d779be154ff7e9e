// FUSE ops on directory listings. OPENDIR takes a snapshot (the provider's entries merged
// with the mount points beneath, "." and ".." first) so READDIR can resume at any offset
// while the directory changes; an entry's offset is its index + 1.
#include <sys/stat.h>

#include <algorithm>

#include "vfs/fuse_server.h"
#include "vfs/vfs_service.h"

namespace matchlock::vfs {

void FuseServer::opendir(Ctx& c) {
  if (!fuse::decode_fixed<fuse_open_in>(c.req)) return reply_error(c.unique, EINVAL);
  auto ws = node_path(c.node);
  if (!ws) return reply_error(c.unique, ws.error());
  auto self = stat_path(*ws);
  if (!self) return reply_error(c.unique, self.error());
  if (!S_ISDIR(self->mode)) return reply_error(c.unique, ENOTDIR);
  if (handles_.size() >= limits_.max_handles) return reply_error(c.unique, EMFILE);

  std::vector<DirEntry> entries{{".", self->ino, S_IFDIR}, {"..", self->ino, S_IFDIR}};
  auto where = mounts_.serving(*ws);
  auto listed = where.mount->provider->list(where.path);
  if (listed) {
    for (DirEntry& e : *listed) {
      if (name_error(e.name)) continue;  // a host name the guest could not use anyway
      e.ino = map_ino(where.mount, e.ino);
      entries.push_back(std::move(e));
    }
  } else if (!mounts_.is_synthesised(*ws)) {
    return reply_error(c.unique, listed.error());
  }
  for (const std::string& name : mounts_.children_of(*ws)) {
    std::string child = ws->empty() ? name : *ws + "/" + name;
    auto a = stat_path(child);
    DirEntry e{name, a ? a->ino : 0, a ? (a->mode & S_IFMT) : S_IFDIR};
    auto same = std::find_if(entries.begin() + 2, entries.end(),
                             [&](const DirEntry& d) { return d.name == name; });
    if (same != entries.end()) {
      *same = std::move(e);  // the mount hides what the provider has under that name
    } else {
      entries.push_back(std::move(e));
    }
  }
  auto fh = add_handle(OpenFile{c.node, *ws, nullptr, std::move(entries)});
  if (!fh) return reply_error(c.unique, fh.error());
  fuse_open_out out{};
  out.fh = *fh;
  reply_struct(c.unique, out);
}

void FuseServer::readdir(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_read_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  OpenFile* d = handle_of(in->fh);
  if (!d || d->file) return reply_error(c.unique, EBADF);
  FileOperation op = make_op(FileOp::kReaddir, nodes_.path_of(d->node).value_or(d->ws), c.caller);
  op.offset = in->offset;
  with_hooks(c, {op}, {},
             [this, u = c.unique, fh = in->fh, offset = in->offset,
              limit = std::min<size_t>(in->size, kMaxRead)](auto&) -> Ran {
               OpenFile* d = handle_of(fh);
               if (!d || d->file) {
                 reply_error(u, EBADF);
                 return Ran{EBADF, 0};
               }
               std::string out;
               for (uint64_t i = offset; i < d->entries.size(); ++i) {
                 const DirEntry& e = d->entries[i];
                 if (!fuse::append_dirent(out, limit, e.ino, i + 1, e.type >> 12, e.name)) break;
               }
               reply(u, out);
               return Ran{0, out.size()};
             });
}

void FuseServer::releasedir(Ctx& c) {
  auto in = fuse::decode_fixed<fuse_release_in>(c.req);
  if (!in) return reply_error(c.unique, EINVAL);
  auto it = handles_.find(in->fh);
  if (it == handles_.end() || it->second.file) return reply_error(c.unique, EBADF);
  handles_.erase(it);
  reply(c.unique, {});
}

}  // namespace matchlock::vfs
