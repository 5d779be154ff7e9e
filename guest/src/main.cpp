// matchlock-guest: PID 1 of the sandbox VM. Boots the guest as far as anything shared by every
// sandbox goes (mounts, modules, disks, the overlay root), then becomes the agent that serves the
// host over virtio-serial. Everything of one sandbox comes with CONFIG (agent.cpp), so that a boot
// saved right after HELLO can be restored for any sandbox.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "agent.h"
#include "boot_probe.h"
#include "boot_settle.h"
#include "channel.h"
#include "config_apply.h"
#include "core/unique_fd.h"
#include "disks.h"
#include "etc_binds.h"
#include "image_prefetch.h"
#include "init_mounts.h"
#include "log.h"
#include "modules.h"
#include "net_config.h"
#include "sandbox_root.h"
#include "shutdown.h"
#include "step_clock.h"
#include "vfs_mount.h"
#include "workload_view.h"

namespace {

using namespace matchlock::guest_agent;
using matchlock::Status;
using matchlock::UniqueFd;

constexpr auto kDiskTimeout = std::chrono::seconds(10);
constexpr int kPortTimeoutMs = 10'000;

struct Booted {
  // The initramfs's module directory, opened here because the agent switches root later, which
  // hides it: modules loaded on demand (fuse.ko, for the workspace) stay reachable as
  // /proc/self/fd/N.
  UniqueFd modules;
  SandboxDisks disks;
};

Booted boot_guest(StepClock& clock) {
  if (auto status = mount_initramfs_filesystems(); !status.ok()) fatal(status.error().message);
  // The KVM probe only needs to show that we got this far; answer before any slow step.
  if (boot_probe_requested()) answer_boot_probe();
  clock.mark("initramfs mounts");

  load_kernel_modules();
  clock.mark("kernel modules");
  prepare_network_devices();
  clock.mark("lo and eth0 up");

  // The host may save this guest right after HELLO and restore it for many sandboxes. Their
  // disks are present for all, and the image's is the very same disk (the save's key pins it),
  // so it is mounted now.
  auto base = wait_for_disk("base", kDiskTimeout);
  if (!base) fatal("no disk with serial \"base\"");
  auto upper = wait_for_disk("upper", kDiskTimeout);
  if (!upper) fatal("no disk with serial \"upper\"");
  clock.mark("find the disks");
  // A failure is reported when CONFIG tries again, as entering the sandbox's root.
  auto mounted = mount_image_disk(*base);
  if (!mounted.ok()) log_line(mounted.error().message);
  clock.mark("mount the image's disk");
  return {UniqueFd(::open("/modules", O_PATH | O_DIRECTORY | O_CLOEXEC)),
          {*base, *upper, mounted.ok()}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("matchlock-guest %s\n", MATCHLOCK_VERSION);
    return 0;
  }
  if (::getpid() != 1) {
    std::fprintf(stderr, "matchlock-guest: must run as PID 1 (init) inside the sandbox VM\n");
    return 2;
  }

  // Each step of /init until HELLO, reported to the host (MATCHLOCK_LOG=debug).
  StepClock boot_clock;
  boot_clock.start();
  Booted booted = boot_guest(boot_clock);
  const UniqueFd& modules = booted.modules;
  auto channel = Channel::open("matchlock.ctl", kPortTimeoutMs);
  if (!channel.ok()) fatal(channel.error().message);
  boot_clock.mark("open the control port");
  // The sandbox's root is entered before HELLO, so a saved boot has it mounted: the host gives
  // every sandbox restored from the save a copy of the writable disk as it was at the save. A
  // failure is reported to the host's CONFIG (the mounts may be half done: not retried).
  Status root = enter_sandbox_root(booted.disks, boot_clock);
  if (!root.ok()) log_line("entering the sandbox root: " + root.error().message);
  std::optional<WorkloadView> workload_view;
  if (root.ok()) {
    // The binds first: the workload's view copies the mount table with them in it.
    Status bound = bind_config_etc_files();
    if (!bound.ok()) log_line("binding /etc's configuration files: " + bound.error().message);
    boot_clock.mark("/etc files bound");
    auto view = WorkloadView::create();
    // Not fatal: each exec then makes its own view (and fails as clearly if that fails too).
    if (view.ok())
      workload_view = std::move(*view);
    else
      log_line(view.error().message);
  }
  boot_clock.mark("workload view");
  // Most sandboxes keep the default workspace: mounted now, a saved boot has it mounted.
  const std::string modules_dir =
      modules ? "/proc/self/fd/" + std::to_string(modules.get()) : "/modules";
  std::optional<VfsMount> workspace;
  if (root.ok()) {
    workspace = mount_workspace_at_boot(modules_dir);
    boot_clock.mark(workspace ? "mount the workspace" : "workspace left to CONFIG");
  }
  if (boot_settle_requested()) {
    settle_deferred_boot_work();
    boot_clock.mark("kernel's deferred boot work, before the save");
    if (root.ok()) {
      prefetch_first_exec_files();
      boot_clock.mark("the image's shell and libc read");
    }
  }
  Agent agent(std::move(*channel), modules_dir, std::move(booted.disks), std::move(root),
              std::move(workload_view), boot_clock.steps(), std::move(workspace));
  agent.run();
}
