// The agent: one poll() loop serving the host over the channel, multiplexing exec, port and
// file sessions, and, as PID 1, reaping every child in the guest.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "channel.h"
#include "core/unique_fd.h"
#include "disks.h"
#include "exec_session.h"
#include "file_session.h"
#include "port_session.h"
#include "step_clock.h"
#include "user_cache.h"
#include "vfs_mount.h"
#include "workload_view.h"

namespace matchlock::guest_agent {

class Agent {
 public:
  // `modules_dir`: where on-demand kernel modules (fuse.ko) are, also after the root switch;
  // `disks`: the sandbox's disks as found at boot (their names survive a save and restore);
  // `root`: how entering the sandbox's root went at boot (an error fails every CONFIG).
  // `workload_view`: the shared view of unprivileged execs (nullopt: each exec makes its own).
  // `boot_steps`: how long /init's steps took, sent with every HELLO.
  // `boot_workspace`: the workspace the boot mounted at its default path, if it did.
  Agent(Channel channel, std::string modules_dir, SandboxDisks disks, Status root,
        std::optional<WorkloadView> workload_view, std::vector<StepClock::Step> boot_steps,
        std::optional<VfsMount> boot_workspace);
  [[noreturn]] void run();

 private:
  enum class Handshake { kAwaitHello, kAwaitConfig, kReady };

  void on_connected();
  void on_disconnected();
  void on_frame(const guest_protocol::Frame& frame);
  void on_control_frame(const guest_protocol::Frame& frame);
  void on_exec_open(const guest_protocol::Frame& frame);
  void on_session_frame(ExecSession& session, const guest_protocol::Frame& frame);
  void on_port_open(const guest_protocol::Frame& frame);
  void on_file_open(const guest_protocol::Frame& frame);
  bool stream_busy(uint32_t stream) const;
  // CONFIG's first steps (protocol v6): seed the RNG, set the clock and, on the first CONFIG
  // only, re-probe the data disks of a restored guest.
  // Also takes CONFIG's channel token, which READY echoes.
  Status prepare_sandbox(std::string_view config_payload);
  // CONFIG "workspace" (empty: none): keeps the boot's mount if it is there, else mounts it
  // once (a host that reconnects finds it mounted).
  Status mount_vfs(const std::string& workspace);
  // CONFIG "disks": each mounted once, before the workspace (which may not be beneath them).
  Status mount_disks(const std::vector<DataDisk>& disks);
  void reap_children();

  Channel channel_;
  UniqueFd child_signals_;    // signalfd for SIGCHLD
  UniqueFd reconnect_timer_;  // ticks only while no host is connected
  Handshake handshake_ = Handshake::kAwaitHello;
  std::string channel_token_;  // of the last CONFIG: READY echoes it
  std::vector<StepClock::Step> boot_steps_;
  StepClock config_clock_;  // the steps of applying the last CONFIG, reported in READY
  Status root_;             // entering the sandbox's root at boot
  std::optional<WorkloadView> workload_view_;
  UserCache users_;           // exec requests' users, resolved once per /etc/passwd and /etc/group
  bool disks_ready_ = false;  // the first CONFIG re-probed a restored guest's data disks
  // From CONFIG (the CA bundle variables): added to every exec that does not set them.
  std::vector<std::string> exec_env_defaults_;
  std::map<uint32_t, std::unique_ptr<ExecSession>> sessions_;
  std::map<uint32_t, std::unique_ptr<PortSession>> ports_;
  std::map<uint32_t, std::unique_ptr<FileSession>> files_;
  std::string modules_dir_;
  SandboxDisks disks_;
  std::optional<VfsMount> vfs_;
  std::vector<std::string> disk_mounts_;  // mount points of the data disks, in mount order
};

}  // namespace matchlock::guest_agent
