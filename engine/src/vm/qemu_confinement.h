// What the QEMU child does to itself between fork and exec, beyond QEMU's own seccomp filter:
// no new privileges, resource limits, and, when the engine runs as root, a uid and gid of its own
// that own nothing on the host. QEMU's `-run-with user=` cannot do the last part: with
// `-sandbox elevateprivileges=deny` its filter kills QEMU at the setuid.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace matchlock::vm {

// A dropped QEMU runs as kQemuIdBase + its own pid (uid and gid alike): two running QEMUs never
// share an id, so neither can ptrace or signal the other, and no host user owns these ids.
inline constexpr uint32_t kQemuIdBase = 0x70000000;
uid_t qemu_id_for(pid_t qemu_pid);

// Modest limits: QEMU holds a few dozen fds, and runs a few dozen threads.
inline constexpr uint64_t kQemuMaxOpenFiles = 1024;
inline constexpr uint64_t kQemuMaxProcesses = 512;  // only with its own uid: the limit is per uid

struct Confinement {
  bool drop_privileges = false;  // switch to qemu_id_for(pid) before exec
  uint64_t max_file_bytes = 0;   // RLIMIT_FSIZE: the largest file QEMU may write
};

// Privileges are dropped when the engine runs as root and the ids exist in its user namespace.
// No file size limit yet: see file_size_limit.
Confinement plan_confinement();

// RLIMIT_FSIZE for a QEMU whose largest written file (a writable disk, a saved guest) is
// `largest_written_bytes`, with room for a saved guest's device state.
uint64_t file_size_limit(uint64_t largest_written_bytes);

// Runs in the forked child, so only async-signal-safe calls. On failure returns false with a
// static description of the step that failed (errno set); the child must not exec then.
bool confine_this_process(const Confinement& c, const char** failed_step);

}  // namespace matchlock::vm
