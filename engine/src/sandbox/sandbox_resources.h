// What a sandbox owns while it exists: its directory and state row, the QEMU process and its
// channels, the network stack. Private to sandbox/ (Boot acquires them, Sandbox releases them),
// so that sandbox.h does not pull vm/, net/, state/ and guest/ into its callers.
#pragma once

#include <filesystem>
#include <memory>

#include "core/log.h"
#include "core/uv.h"
#include "guest_client/guest_connection.h"
#include "image/image_store.h"
#include "net/intercept/intercept_policy.h"
#include "net/network_stack.h"
#include "sandbox/agent_port_watch.h"
#include "sandbox/port_forward.h"
#include "sandbox/sandbox.h"
#include "state/state_store.h"
#include "vfs/vfs_hooks.h"
#include "vfs/vfs_service.h"
#include "vm/capped_log.h"
#include "vm/qemu_process.h"
#include "vm/qmp_client.h"

namespace matchlock::sandbox {

struct Sandbox::Resources {
  std::filesystem::path dir;  // $MATCHLOCK_HOME/sandboxes/<id>: disk, logs
  // The sandbox's writable disk in `dir`: made at boot (or copied from a save), removed at close.
  std::filesystem::path upper_disk() const { return dir / "upper.ext4"; }
  std::unique_ptr<state::StateStore> state;
  image::ImageRecord image;
  std::unique_ptr<net::NetworkStack> net;        // null with --no-network
  std::shared_ptr<net::InterceptPolicy> policy;  // null unless interception mode
  std::shared_ptr<vfs::VfsHooks> vfs_hooks;      // null without vfs hook rules or events
  std::unique_ptr<vfs::VfsService> files;        // the workspace's file server
  std::unique_ptr<vm::QemuProcess> qemu;
  std::unique_ptr<vm::CappedLog> console;      // console.log, capped; its tail for crash reports
  std::unique_ptr<vm::CappedLog> qemu_output;  // qemu.log, capped; its tail for error reports
  std::unique_ptr<vm::QmpClient> qmp;
  std::shared_ptr<guest_client::GuestConnection> guest;
  std::unique_ptr<AgentPortWatch> agent_port_watch;  // on qmp: reset before it
  std::unique_ptr<uv::Timer> close_timer;
  std::unique_ptr<PortForwarder> published_ports;  // run -p; null when none
  // Wait briefly for QEMU's exit after the guest channel or the NIC closed (on_*_lost).
  std::unique_ptr<uv::Timer> guest_lost_timer;
  std::unique_ptr<uv::Timer> network_lost_timer;
};

// State writes after the row exists are bookkeeping: a failure is reported, not fatal.
inline void warn_if_failed(const Status& st) {
  if (!st.ok()) log::warn(st.error().message);
}

}  // namespace matchlock::sandbox
