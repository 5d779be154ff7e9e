// Starts the QEMU process for one sandbox with its channels wired up: the guest agent's
// virtio-serial port, QMP and the serial console each on a socketpair, and optionally the NIC's
// link. Callers get
// the host ends and never see fd numbers or the command line.
#pragma once

#include <uv.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "core/result.h"
#include "core/unique_fd.h"
#include "vm/qemu_command.h"
#include "vm/qemu_process.h"

namespace matchlock::vm {

struct LaunchedVm {
  std::unique_ptr<QemuProcess> process;
  UniqueFd control;  // host end of the guest agent's port (matchlock.ctl)
  UniqueFd qmp;      // host end of QEMU's monitor, in QMP mode
  UniqueFd vfs;      // backend end of virtio-fs's vhost-user socket; invalid without spec.vfs
  UniqueFd console;  // the guest's serial console, for a ConsoleLog (vm/console_log.h)
};

// `net_link` is QEMU's end of the NIC's socketpair (its other end is the engine's network
// stack); invalid means no engine NIC. spec.network is set from it. QEMU's output goes to
// `output_log`; `on_exit` fires when the process ends. spec.vfs adds virtio-fs (the file server).
Result<LaunchedVm> launch_vm(uv_loop_t* loop, VmSpec spec, UniqueFd net_link,
                             const std::filesystem::path& output_log,
                             std::function<void(ExitInfo)> on_exit);

}  // namespace matchlock::vm
