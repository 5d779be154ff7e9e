// Starts the QEMU process for one sandbox with its channels wired up: the guest agent's
// virtio-serial port, QMP, the serial console and QEMU's own output each on a socketpair, and
// optionally the NIC's link. Callers get the host ends and never see fd numbers or the command
// line.
#pragma once

#include <uv.h>

#include <filesystem>
#include <functional>
#include <memory>

#include "core/result.h"
#include "core/unique_fd.h"
#include "vm/qemu_command.h"
#include "vm/qemu_process.h"
#include "vm/vhost_user_listener.h"

namespace matchlock::vm {

struct LaunchedVm {
  std::unique_ptr<QemuProcess> process;
  UniqueFd control;  // host end of the guest agent's port (matchlock.ctl)
  UniqueFd qmp;      // host end of QEMU's monitor, in QMP mode
  UniqueFd vfs;      // backend end of virtio-fs's vhost-user socket; invalid without spec.vfs
  // Where QEMU's NIC connects (spec.network, not the slirp baseline): accept_from(QEMU's pid).
  std::unique_ptr<VhostUserListener> net;
  UniqueFd console;  // the guest's serial console, for a CappedLog (vm/capped_log.h)
  UniqueFd output;   // QEMU's stdout and stderr, for a CappedLog too
};

// spec.network adds the engine's NIC (LaunchedVm::net). `on_exit` fires when the process ends.
// spec.vfs adds virtio-fs (the file server).
Result<LaunchedVm> launch_vm(uv_loop_t* loop, VmSpec spec, std::function<void(ExitInfo)> on_exit);

}  // namespace matchlock::vm
