// The owner's file server for one sandbox, reached by the guest kernel through virtio-fs: QEMU's
// vhost-user-fs-device hands the device's virtqueues to this process (VhostUserBackend), each
// queued chain is one FUSE request (linux/fuse.h, the bytes /dev/fuse would give) with room for
// its reply. Requests run against the mount table (through the hooks, if any); many may be in
// flight and replies go back as they finish.
//
// THREAT MODEL: every byte comes from the guest. A malformed chain goes back empty; a bad
// request (unknown node id, short body, a name with '/' or NUL, "." or "..") gets an error
// reply. No path outside a mount is ever touched: names are checked here and providers confine.
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

// A READ (or READDIR) moves at most 1 MiB (FUSE_INIT's max_pages); a WRITE at most 512 KiB
// (its max_write): each WRITE's payload is copied into fresh host page-cache pages before the
// guest gets its reply, and on a host that has to fault those pages in, 512 KiB requests wrote
// 1 GiB 1.45x faster than 1 MiB ones (docs/performance.md, "Files"). A message is at most the
// larger of the two plus its headers (the bound on one chain's readable bytes).
inline constexpr size_t kMaxRead = 1024 * 1024;
inline constexpr size_t kMaxWrite = 512 * 1024;
inline constexpr size_t kMaxVfsMessage = kMaxRead + 4096;
// virtio-fs request queues (QEMU's num-request-queues; the hiprio queue comes first).
inline constexpr uint32_t kVirtioFsRequestQueues = 1;

class VfsService {
 public:
  // `vhost_user_socket` is the backend end of QEMU's vhost-user-fs-device chardev; queue 0
  // is the high-priority queue, then kVirtioFsRequestQueues request queues. `workspace` is the
  // guest path where the guest mounts the tree (hooks and events name guest paths). `hooks`
  // may be null. `on_lost` fires once if the channel fails.
  static Result<std::unique_ptr<VfsService>> start(uv_loop_t* loop, UniqueFd vhost_user_socket,
                                                   MountTable mounts, std::string workspace,
                                                   std::shared_ptr<VfsHooks> hooks,
                                                   std::function<void(const Error&)> on_lost);
  virtual ~VfsService() = default;
  // Stops serving the queues, closes every open handle and the socket.
  virtual void close() = 0;
};

}  // namespace matchlock::vfs
