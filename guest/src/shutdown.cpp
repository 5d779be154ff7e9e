#include "shutdown.h"

#include <dirent.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <string>

#include "disks.h"
#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {
namespace {

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

// Reaps until no children remain or the deadline passes. True when none remain.
bool reap_until(int64_t deadline_ms) {
  while (true) {
    pid_t pid;
    while ((pid = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (pid < 0 && errno == ECHILD) return true;
    if (monotonic_ms() >= deadline_ms) return false;
    ::usleep(5'000);
  }
}

}  // namespace

void power_off() {
  ::sync();
  ::reboot(RB_POWER_OFF);
  // Only reachable when not PID 1 / not privileged (e.g. a test run on the host).
  std::_Exit(1);
}

void fatal(std::string_view reason) {
  log_line("FATAL: " + std::string(reason));
  power_off();
}

void graceful_shutdown(uint32_t grace_ms, const VfsMount* vfs,
                       const std::vector<std::string>& disk_mounts) {
  log_line("shutdown requested");
  // kill(-1) skips the caller, so the agent survives to finish the sequence.
  ::kill(-1, SIGTERM);
  if (!reap_until(monotonic_ms() + grace_ms)) {
    ::kill(-1, SIGKILL);
    reap_until(monotonic_ms() + 1000);
  }
  if (vfs) ::umount2(vfs->workspace.c_str(), MNT_DETACH);
  unmount_data_disks(disk_mounts);
  power_off();
}

}  // namespace matchlock::guest_agent
