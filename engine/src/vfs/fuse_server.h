// The FUSE file server proper: takes one complete FUSE request at a time (the service splits
// the byte stream), runs it against the mount table through the hooks and hands each reply to
// `send`. Requests are independent: one waiting on an asynchronous hook does not hold up the
// others, so replies may leave out of order (the kernel matches them by `unique`).
//
// Split by concern: fuse_server.cpp (dispatch, INIT, hooks, shared helpers),
// fuse_entry_ops.cpp (names: lookup, attributes, create/remove/rename/link of entries),
// fuse_file_ops.cpp (open files), fuse_dir_ops.cpp (directory listings).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "vfs/fuse_wire.h"
#include "vfs/mount_table.h"
#include "vfs/node_table.h"
#include "vfs/provider.h"
#include "vfs/vfs_hooks.h"

namespace matchlock::vfs {

// A request's file data left where the transport has it (the guest's RAM), so READ and WRITE
// payloads cross without a copy in the engine. Valid only during the handle() call it comes
// with: the transport's memory may be remapped afterwards.
struct InPlaceData {
  std::vector<iovec> write_payload;  // WRITE: the data after fuse_write_in (not in the message)
  std::vector<iovec> reply_room;     // READ: room for the reply's data after its fuse_out_header
};

class FuseServer {
 public:
  // A reply, and how many bytes of its data were already written to the request's reply room
  // (they follow `reply`; its header's len counts them).
  using Send = std::function<void(std::string reply, size_t placed)>;
  struct Limits {
    size_t max_handles = 65536;  // open files and directories (EMFILE beyond)
    size_t max_nodes = 1 << 20;  // node ids the kernel holds (ENFILE beyond)
    size_t max_waiting = 4096;   // requests waiting on a before-hook (EAGAIN beyond): each
                                 // holds its message, up to 1 MiB
  };

  FuseServer(MountTable mounts, std::string workspace, std::shared_ptr<VfsHooks> hooks, Send send);
  FuseServer(MountTable mounts, std::string workspace, std::shared_ptr<VfsHooks> hooks, Send send,
             Limits limits);
  ~FuseServer();
  FuseServer(const FuseServer&) = delete;
  FuseServer& operator=(const FuseServer&) = delete;

  // One whole message as the guest sent it (any bytes: it is checked here); a WRITE's data may
  // be in `in_place` instead. Operations that reach a before-hook copy in-place data first.
  void handle(std::string message, const InPlaceData& in_place = {});
  // Drops every open handle (the channel is gone); pending hook answers are then ignored.
  void close_handles();

  size_t open_handles() const { return handles_.size(); }
  size_t nodes() const { return nodes_.size(); }
  size_t waiting_on_hooks() const { return waiting_; }
  bool initialized() const { return initialized_; }
  // A restored guest's kernel holds a session another server answered FUSE_INIT for, with
  // nothing in it but the root (vfs_service.cpp, the device state): go on from there.
  void resume_empty_session() { initialized_ = true; }

 private:
  // What every request carries, plus the message its views point into.
  struct Ctx {
    std::shared_ptr<const std::string> message;
    fuse::Request req;
    uint64_t unique = 0;
    uint64_t node = 0;
    Caller caller;
    const InPlaceData* in_place = nullptr;  // only while handle() runs: never kept
  };
  struct OpenFile {
    uint64_t node = 0;
    std::string ws;                    // workspace path at open (names a detached file for hooks)
    std::unique_ptr<FileHandle> file;  // null for a directory
    std::vector<DirEntry> entries;     // directory snapshot, "." and ".." first
    bool direct_io = false;            // opened with FOPEN_DIRECT_IO (fuse_file_ops.cpp)
  };
  struct Ran {  // what after() hears: the errno the guest got, bytes transferred
    int error = 0;
    uint64_t size = 0;
  };
  using Run = std::function<Ran(const std::optional<std::string>& replace)>;

  void dispatch(Ctx& c);
  void init(Ctx& c);

  // fuse_entry_ops.cpp
  void lookup(Ctx& c);
  void forget(Ctx& c);
  void batch_forget(Ctx& c);
  void getattr(Ctx& c);
  void setattr(Ctx& c);
  void readlink(Ctx& c);
  void symlink(Ctx& c);
  void mknod(Ctx& c);
  void mkdir(Ctx& c);
  void remove(Ctx& c, bool dir);
  void rename(Ctx& c, bool v2);
  void link(Ctx& c);
  void statfs(Ctx& c);
  // fuse_file_ops.cpp
  void open(Ctx& c);
  void create(Ctx& c);
  void read(Ctx& c);
  void write(Ctx& c);
  void release(Ctx& c);
  void fsync(Ctx& c);
  // fuse_dir_ops.cpp
  void opendir(Ctx& c);
  void readdir(Ctx& c);
  void releasedir(Ctx& c);

  // Runs `ops`' before-hooks in order (each may answer later), then `run` unless one refused
  // (then the guest gets its errno); after() then hears every op with the outcome.
  void with_hooks(const Ctx& c, std::vector<FileOperation> ops, std::string_view data, Run run);

  // Shared helpers (fuse_server.cpp).
  void reply_error(uint64_t unique, int err);
  void reply(uint64_t unique, std::string_view body);
  template <typename T>
  void reply_struct(uint64_t unique, const T& body) {
    send_(fuse::encode_struct(unique, body), 0);
  }
  void reply_entry(uint64_t unique, uint64_t node, const Attr& attr);
  Outcome<std::string> node_path(uint64_t node) const;  // ENOENT: unknown or detached
  Outcome<std::string> child_path(uint64_t parent, std::string_view name) const;
  std::string guest_path(const std::string& ws) const;
  FileOperation make_op(FileOp op, const std::string& ws, const Caller& caller) const;
  Outcome<Attr> stat_path(const std::string& ws);
  // The mount that may change `ws` itself: EBUSY for a mount point or a synthesised
  // directory, EROFS for a read-only provider.
  Outcome<MountTable::Resolved> mutable_target(const std::string& ws) const;
  // The mount where a new entry `ws` goes: EROFS for a read-only provider.
  Outcome<MountTable::Resolved> new_entry_target(const std::string& ws) const;
  uint64_t map_ino(const Mount* m, uint64_t ino) const;
  OpenFile* handle_of(uint64_t fh);
  OpenFile* any_handle_of_node(uint64_t node);
  OpenFile* handle_for_attr(uint64_t node, bool has_fh, uint64_t fh);
  Outcome<uint64_t> add_handle(OpenFile f);
  // Node id for a just-created/looked-up entry; replies the entry or the error.
  // Answers an operation that made or found a name: its error, or an entry for the (possibly
  // new) node with the attributes' inode number mapped for `mount` (null: already mapped).
  Ran reply_new_entry(uint64_t unique, uint64_t parent, const std::string& name, Outcome<Attr> attr,
                      const Mount* mount = nullptr);

  MountTable mounts_;
  std::string workspace_;
  std::shared_ptr<VfsHooks> hooks_;
  Send send_;
  Limits limits_;
  NodeTable nodes_;
  std::unordered_map<uint64_t, OpenFile> handles_;
  uint64_t next_fh_ = 1;
  bool initialized_ = false;
  size_t waiting_ = 0;                                     // before-hooks not answered yet
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);  // hook answers check it
};

fuse_attr fuse_attr_of(const Attr& a);

// FUSE names: "" , ".", "..", '/' or NUL inside are EINVAL, over 255 bytes ENAMETOOLONG.
int name_error(std::string_view name);

}  // namespace matchlock::vfs
