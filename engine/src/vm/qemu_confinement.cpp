#include "vm/qemu_confinement.h"

#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

#include "core/log.h"

namespace matchlock::vm {
namespace {

// Linux's largest possible pid (PID_MAX_LIMIT on 64-bit): every id QEMU may get lies below
// kQemuIdBase + this.
constexpr uint64_t kPidMaxLimit = 4u << 20;

// Room beyond the largest file QEMU writes: a saved guest's device state.
constexpr uint64_t kFileSizeMargin = uint64_t{1} << 30;

// Whether every id QEMU may get exists in this user namespace (a container's narrow map has
// none of them, and setresuid would fail).
bool qemu_ids_mapped(const char* map_file) {
  std::ifstream in(map_file);
  uint64_t inside = 0, outside = 0, count = 0;
  while (in >> inside >> outside >> count) {
    if (inside <= kQemuIdBase && kQemuIdBase + kPidMaxLimit <= inside + count) return true;
  }
  return false;
}

bool set_limit(int resource, uint64_t value) {
  rlimit limit{static_cast<rlim_t>(value), static_cast<rlim_t>(value)};
  return ::setrlimit(resource, &limit) == 0;
}

bool ids_stuck(uid_t id) {
  uid_t ruid = 0, euid = 0, suid = 0;
  gid_t rgid = 0, egid = 0, sgid = 0;
  if (::getresuid(&ruid, &euid, &suid) != 0 || ::getresgid(&rgid, &egid, &sgid) != 0) {
    return false;
  }
  if (ruid != id || euid != id || suid != id || rgid != id || egid != id || sgid != id) {
    return false;
  }
  if (::getgroups(0, nullptr) != 0) return false;
  // Root again would mean capabilities survived the switch.
  return ::setresuid(0, 0, 0) != 0;
}

}  // namespace

uid_t qemu_id_for(pid_t qemu_pid) {
  return static_cast<uid_t>(kQemuIdBase + static_cast<uint32_t>(qemu_pid));
}

uint64_t file_size_limit(uint64_t largest_written_bytes) {
  return largest_written_bytes + kFileSizeMargin;
}

Confinement plan_confinement() {
  Confinement c;
  if (::geteuid() == 0) {
    c.drop_privileges =
        qemu_ids_mapped("/proc/self/uid_map") && qemu_ids_mapped("/proc/self/gid_map");
    if (!c.drop_privileges) {
      log::warn("QEMU runs as root: this user namespace has no ids from " +
                std::to_string(kQemuIdBase) + " to give it");
    }
  }
  return c;
}

bool confine_this_process(const Confinement& c, const char** failed_step) {
  auto fail = [failed_step](const char* step) {
    *failed_step = step;
    return false;
  };
  // A core dump of QEMU would hold the guest's RAM: the user's data.
  if (!set_limit(RLIMIT_CORE, 0)) return fail("setrlimit(RLIMIT_CORE)");
  if (!set_limit(RLIMIT_NOFILE, kQemuMaxOpenFiles)) return fail("setrlimit(RLIMIT_NOFILE)");
  if (c.max_file_bytes > 0 && !set_limit(RLIMIT_FSIZE, c.max_file_bytes)) {
    return fail("setrlimit(RLIMIT_FSIZE)");
  }
  // Past the size limit a write fails (EFBIG, an I/O error the guest sees) rather than the
  // signal killing QEMU. An ignored signal stays ignored across exec.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  if (::sigaction(SIGXFSZ, &ignore, nullptr) != 0) return fail("ignore SIGXFSZ");
  // Nothing QEMU executes (it executes nothing, by its own filter) gains privileges.
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail("PR_SET_NO_NEW_PRIVS");
  if (!c.drop_privileges) return true;
  const uid_t id = qemu_id_for(::getpid());
  if (!set_limit(RLIMIT_NPROC, kQemuMaxProcesses)) return fail("setrlimit(RLIMIT_NPROC)");
  if (::setgroups(0, nullptr) != 0) return fail("setgroups");
  if (::setresgid(id, id, id) != 0) return fail("setresgid");
  if (::setresuid(id, id, id) != 0) return fail("setresuid");
  if (!ids_stuck(id)) return fail("verify the dropped ids");
  return true;
}

}  // namespace matchlock::vm
