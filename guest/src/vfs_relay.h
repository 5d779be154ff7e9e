// The VFS relay: copies FUSE requests from /dev/fuse to the virtio-serial port "matchlock.vfs"
// and the host's replies back, unchanged (protocol.h, "workspace"). The host serves the
// requests; the relay only delimits messages, bounded, and never interprets them.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock::guest_agent {

// Largest FUSE message either way: a 1 MiB WRITE plus its headers. Must equal the engine's
// vfs::kMaxVfsMessage (engine/src/vfs/vfs_service.h, which the guest cannot include).
inline constexpr size_t kMaxFuseMessage = 1024 * 1024 + 4096;
// sizeof(struct fuse_out_header): the smallest valid reply.
inline constexpr size_t kFuseOutHeaderSize = 16;

// Splits the host's reply byte stream into whole replies by fuse_out_header.len (the first
// u32, native byte order as the guest kernel expects). Never buffers more than one reply plus
// one read; a length outside [16, kMaxFuseMessage] fails it for good.
class FuseReplyReader {
 public:
  void feed(std::string_view bytes);
  // The next whole reply, valid until the next feed() or next(); nullopt when more bytes are
  // needed or the stream failed.
  std::optional<std::string_view> next();
  bool failed() const { return failed_; }
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::string buf_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// Copies replies from `port_fd` to `fuse_fd` until the port ends or sends a bad length; one
// write() per reply (the kernel takes a reply only whole). Returns why it stopped.
Status relay_replies(int port_fd, int fuse_fd);
// Copies requests from `fuse_fd` to `port_fd`: one read() of /dev/fuse is one whole request.
// Returns when the filesystem is unmounted (ENODEV) or the port fails.
Status relay_requests(int fuse_fd, int port_fd);

// Starts the relay in a forked child that owns both fds from then on (the caller closes its
// copies, so the FUSE connection dies with the relay instead of hanging its users). The child
// ignores SIGTERM, so processes stopping at shutdown can still flush into the workspace; the
// shutdown sequence kills it last (shutdown.h). Returns the child's pid.
Result<pid_t> start_vfs_relay(UniqueFd fuse_fd, UniqueFd port_fd);

}  // namespace matchlock::guest_agent
