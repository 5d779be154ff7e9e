#include "vm/vm_launcher.h"

#include <sys/socket.h>

#include <map>

namespace matchlock::vm {
namespace {

struct SocketPair {
  UniqueFd ours, theirs;
};

Result<SocketPair> socket_pair() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return io_error("socketpair failed");
  }
  return SocketPair{UniqueFd(sv[0]), UniqueFd(sv[1])};
}

}  // namespace

Result<LaunchedVm> launch_vm(uv_loop_t* loop, VmSpec spec, UniqueFd net_link,
                             const std::filesystem::path& output_log,
                             std::function<void(ExitInfo)> on_exit) {
  auto ctl = socket_pair();
  if (!ctl.ok()) return ctl.error();
  auto qmp = socket_pair();
  if (!qmp.ok()) return qmp.error();
  spec.network = net_link.valid();
  std::map<int, int> inherit = {{kControlFd, ctl->theirs.get()}, {kQmpFd, qmp->theirs.get()}};
  if (net_link.valid()) inherit[kNetFd] = net_link.get();
  SocketPair vfs;
  if (spec.vfs) {
    auto pair = socket_pair();
    if (!pair.ok()) return pair.error();
    vfs = std::move(*pair);
    inherit[kVfsFd] = vfs.theirs.get();
  }
  auto proc = QemuProcess::spawn(loop, qemu_argv(spec), inherit, output_log, std::move(on_exit));
  if (!proc.ok()) return proc.error();
  // QEMU's ends close here (they live on in the child); ours go to the caller.
  return LaunchedVm{std::move(proc.value()), std::move(ctl->ours), std::move(qmp->ours),
                    std::move(vfs.ours)};
}

}  // namespace matchlock::vm
