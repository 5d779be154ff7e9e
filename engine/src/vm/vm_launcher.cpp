#include "vm/vm_launcher.h"

#include <sys/socket.h>

#include <algorithm>
#include <map>

#include "vm/passed_files.h"

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

Result<LaunchedVm> launch_vm(uv_loop_t* loop, VmSpec spec, std::function<void(ExitInfo)> on_exit) {
  auto ctl = socket_pair();
  if (!ctl.ok()) return ctl.error();
  auto qmp = socket_pair();
  if (!qmp.ok()) return qmp.error();
  auto console = socket_pair();
  if (!console.ok()) return console.error();
  // A guest can make QEMU print (device errors it provokes): a socket the engine caps, not a file.
  auto output = socket_pair();
  if (!output.ok()) return output.error();
  std::map<int, int> inherit = {{kControlFd, ctl->theirs.get()},
                                {kQmpFd, qmp->theirs.get()},
                                {kConsoleFd, console->theirs.get()}};
  std::unique_ptr<VhostUserListener> net;
  if (spec.network && !spec.slirp_baseline) {
    auto listener = VhostUserListener::listen(loop);
    if (!listener.ok()) return listener.error().with_context("the NIC");
    net = std::move(listener.value());
    spec.net_socket = net->name();
  }
  SocketPair vfs;
  if (spec.vfs) {
    auto pair = socket_pair();
    if (!pair.ok()) return pair.error();
    vfs = std::move(*pair);
    inherit[kVfsFd] = vfs.theirs.get();
  }
  // QEMU writes its disks, and a saved guest about the size of its RAM.
  const uint64_t ram_bytes = spec.memory_mib << 20;
  Confinement confinement = plan_confinement();
  // The virtio-9p benchmark baseline (MATCHLOCK_UNSAFE_BENCH_VIRTFS) has QEMU serve a host
  // directory by path, as the user who named it: it is unsafe by design and never used for real.
  if (!spec.bench_virtfs_dir.empty()) confinement.drop_privileges = false;
  auto files = open_passed_files(qemu_passed_files(spec), confinement.drop_privileges);
  if (!files.ok()) return files.error();
  confinement.max_file_bytes = file_size_limit(std::max(files->largest_writable_bytes, ram_bytes));
  inherit.insert(files->inherit.begin(), files->inherit.end());
  auto proc = QemuProcess::spawn(loop, qemu_argv(spec), inherit, output->theirs.get(), confinement,
                                 std::move(on_exit));
  if (!proc.ok()) return proc.error();
  // QEMU's ends and files close here (they live on in the child); ours go to the caller.
  return LaunchedVm{std::move(proc.value()), std::move(ctl->ours), std::move(qmp->ours),
                    std::move(vfs.ours),     std::move(net),       std::move(console->ours),
                    std::move(output->ours)};
}

}  // namespace matchlock::vm
