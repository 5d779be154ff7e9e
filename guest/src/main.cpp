// matchlock-guest: PID 1 of the sandbox VM. Boots the guest as far as anything shared by every
// sandbox goes (mounts, modules, disks present), then becomes the agent that serves the host over
// virtio-serial. The sandbox's own root is entered on CONFIG (agent.cpp), so that a boot saved
// right after HELLO can be restored for any sandbox.
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

// Returns the initramfs's module directory, opened here because the agent switches root later,
// which hides it: modules loaded on demand (fuse.ko, for the workspace) stay reachable as
// /proc/self/fd/N.
UniqueFd boot_guest() {
  if (auto status = mount_initramfs_filesystems(); !status.ok()) fatal(status.error().message);
  // The KVM probe only needs to show that we got this far; answer before any slow step.
  if (boot_probe_requested()) answer_boot_probe();

  load_kernel_modules();

  // Nothing here may read or depend on the disks' contents: they belong to one sandbox, and the
  // host may save this guest right after HELLO. Their presence is the same for every sandbox.
  if (!wait_for_disk("base", kDiskTimeout)) fatal("no disk with serial \"base\"");
  if (!wait_for_disk("upper", kDiskTimeout)) fatal("no disk with serial \"upper\"");
  return UniqueFd(::open("/modules", O_PATH | O_DIRECTORY | O_CLOEXEC));
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
