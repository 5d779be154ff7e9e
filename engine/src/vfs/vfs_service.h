// The owner's file server for one sandbox: reads FUSE requests that the guest's relay forwards
// over the virtio-serial port "matchlock.vfs", runs them against the mount table (through the
// hooks, if any) and writes the replies back. Requests are the Linux FUSE wire protocol
// (linux/fuse.h) as the guest kernel produced them, so the same server can sit behind
// virtio-fs later; the stream is split by each message's own length, bounded by
// kMaxVfsMessage. Many requests may be in flight; replies go out as they finish.
//
// THREAT MODEL: every byte comes from the guest. A bad length ends the channel; a bad request
// (unknown node id, short body, a name with '/' or NUL, "." or "..") gets an error reply. No
// path outside a mount is ever touched: names are checked here and providers confine.
#pragma once

#include <uv.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"
#include "vfs/mount_table.h"
#include "vfs/vfs_hooks.h"

namespace matchlock::vfs {

// FUSE_INIT's max_write is 1 MiB; a WRITE request is that plus its headers.
inline constexpr size_t kMaxWrite = 1024 * 1024;
inline constexpr size_t kMaxVfsMessage = kMaxWrite + 4096;

class VfsService {
 public:
  // `workspace` is the guest path where the guest mounts the tree (hooks and events name
  // guest paths). `hooks` may be null. `on_lost` fires once if the channel fails.
  static Result<std::unique_ptr<VfsService>> start(uv_loop_t* loop, UniqueFd port_socket,
                                                   MountTable mounts, std::string workspace,
                                                   std::shared_ptr<VfsHooks> hooks,
                                                   std::function<void(const Error&)> on_lost);
  virtual ~VfsService() = default;
  // Stops reading, closes every open handle and the socket.
  virtual void close() = 0;
};

}  // namespace matchlock::vfs
