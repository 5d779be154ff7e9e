// The engine's side of the files QEMU gets by fd (qemu_command.h PassedFile): each opened as
// QEMU will use it, before QEMU starts and before it gives up root.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "vm/qemu_command.h"

namespace matchlock::vm {

struct OpenedFiles {
  std::vector<UniqueFd> fds;   // ours, close-on-exec; the child dup2()s them into place
  std::map<int, int> inherit;  // QEMU's fd number -> ours
  // The largest file QEMU may write to (its writable disks), for its RLIMIT_FSIZE.
  uint64_t largest_writable_bytes = 0;
};

// `for_other_user`: QEMU will run as another uid, so a file it reopens by /proc/self/fd/N
// (kernel, initrd) that only its owner may read is handed over as a copy in memory instead.
Result<OpenedFiles> open_passed_files(const std::vector<PassedFile>& files, bool for_other_user);

}  // namespace matchlock::vm
