// The socket QEMU's `-netdev vhost-user` connects to. That netdev takes only a chardev that can
// carry file descriptors, and QEMU grants that to a unix socket it opens by name, not to an
// inherited fd (its char-socket.c: "TODO SOCKET_ADDRESS_FD where fd has AF_UNIX"). So the
// engine listens on a name in Linux's abstract namespace: no file to create or remove, no path
// QEMU's unprivileged user must be able to reach, 128 random bits so nothing can guess or take
// it first. Any process in the host's network namespace could still connect, so a connection is
// kept only when it comes from QEMU's own pid (SO_PEERCRED); the listener closes at the first.
#pragma once

#include <sys/types.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"

namespace matchlock::vm {

class VhostUserListener {
 public:
  static Result<std::unique_ptr<VhostUserListener>> listen(uv_loop_t* loop);
  ~VhostUserListener();

  // The abstract name, without its leading NUL (QEMU: `path=NAME,abstract=on`).
  const std::string& name() const { return name_; }
  // From now on, accepts connections: the first from `pid` goes to `on_connected` (once; the
  // listener closes then), others are closed.
  void accept_from(pid_t pid, std::function<void(UniqueFd)> on_connected);

 private:
  VhostUserListener() = default;
  void on_readable();

  std::string name_;
  UniqueFd socket_;
  uv::Handle<uv_poll_t> poll_;
  pid_t pid_ = 0;
  uint64_t refused_ = 0;  // connections from other processes
  std::function<void(UniqueFd)> callback_;
};

}  // namespace matchlock::vm
