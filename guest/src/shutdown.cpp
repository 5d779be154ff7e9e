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

#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {
namespace {

int64_t monotonic_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

// True if a live user process other than PID 1 and `keep` exists. Kernel threads (kthreadd,
// pid 2, and its children) and zombies do not count.
bool others_alive(pid_t keep) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc"), ::closedir);
  if (!dir) return true;
  while (dirent* entry = ::readdir(dir.get())) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 2 || pid == keep) continue;
    auto stat = read_file("/proc/" + std::string(entry->d_name) + "/stat", 4096);
    if (!stat) continue;  // exited meanwhile
    // "pid (comm) S ppid ...": comm may hold anything, so parse after its last ')'.
    auto close = stat->rfind(')');
    if (close == std::string::npos || close + 4 > stat->size()) continue;
    char state = (*stat)[close + 2];
    long ppid = std::strtol(stat->c_str() + close + 4, nullptr, 10);
    if (state == 'Z' || ppid == 2) continue;
    return true;
  }
  return false;
}

// Reaps until no children remain (but `keep`, if > 0) or the deadline passes. True when none
// remain.
bool reap_until(int64_t deadline_ms, pid_t keep = -1) {
  while (true) {
    pid_t pid;
    while ((pid = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
    }
    if (pid < 0 && errno == ECHILD) return true;
    if (keep > 0 && !others_alive(keep)) return true;
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

void graceful_shutdown(uint32_t grace_ms, const VfsMount* vfs) {
  log_line("shutdown requested");
  const pid_t relay = vfs ? vfs->relay_pid : -1;
  // kill(-1) skips the caller, so the agent survives to finish the sequence.
  ::kill(-1, SIGTERM);
  if (!reap_until(monotonic_ms() + grace_ms, relay)) {
    ::kill(-1, SIGKILL);
    reap_until(monotonic_ms() + 1000);
  }
  if (vfs) {
    ::umount2(vfs->workspace.c_str(), MNT_DETACH);
    if (relay > 0) ::kill(relay, SIGKILL);
    reap_until(monotonic_ms() + 1000);
  }
  power_off();
}

}  // namespace matchlock::guest_agent
