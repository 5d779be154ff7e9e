// matchlock-guest: PID 1 of the sandbox VM. Boots the guest (mounts, modules, disks, overlay
// root), then becomes the agent that serves the host over virtio-serial.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "agent.h"
#include "boot_probe.h"
#include "channel.h"
#include "core/unique_fd.h"
#include "disks.h"
#include "init_mounts.h"
#include "log.h"
#include "modules.h"
#include "shutdown.h"

namespace {

using namespace matchlock::guest_agent;
using matchlock::UniqueFd;

constexpr auto kDiskTimeout = std::chrono::seconds(10);
constexpr int kPortTimeoutMs = 10'000;
constexpr const char* kNewRoot = "/newroot";

// Returns the initramfs's module directory, opened before switch_root hides it, so modules
// loaded on demand later (fuse.ko, for the workspace) stay reachable as /proc/self/fd/N.
UniqueFd boot_guest() {
  if (auto status = mount_initramfs_filesystems(); !status.ok()) fatal(status.error().message);
  // The KVM probe only needs to show that we got this far; answer before any slow step.
  if (boot_probe_requested()) answer_boot_probe();

  load_kernel_modules();

  auto base = wait_for_disk("base", kDiskTimeout);
  if (!base) fatal("no disk with serial \"base\"");
  auto upper = wait_for_disk("upper", kDiskTimeout);
  if (!upper) fatal("no disk with serial \"upper\"");
  if (auto status = mount_overlay_root(*base, *upper, kNewRoot); !status.ok()) {
    fatal(status.error().message);
  }
  UniqueFd modules(::open("/modules", O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (auto status = switch_root(kNewRoot); !status.ok()) fatal(status.error().message);
  if (auto status = mount_root_filesystems(); !status.ok()) fatal(status.error().message);
  ::setenv("PATH", kDefaultPath, 1);
  return modules;
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

  UniqueFd modules = boot_guest();
  auto channel = Channel::open("matchlock.ctl", kPortTimeoutMs);
  if (!channel.ok()) fatal(channel.error().message);
  Agent agent(std::move(*channel),
              modules ? "/proc/self/fd/" + std::to_string(modules.get()) : "/modules");
  agent.run();
}
