// Boots a sandbox as a list of named steps. The order is written once, in Boot::kSteps
// (boot.cpp), read top to bottom:
//
//   open state → disks in use → resolve image → guest bundle → register sandbox → upper disk
//   → accelerator → certificate authority → network → files → warm start → start QEMU →
//   connect guest and QMP → ready
//
// "warm start" decides whether QEMU restores a saved guest or boots the kernel (warm_start.h).
// A failed restore is not a failed boot: what "start QEMU" and later acquired is undone, and the
// boot goes again from "files", cold, rebuilding the save.
//
// The certificate authority comes before the network (whose policy signs with it) and so
// before the guest configuration that carries its certificate into the guest.
//
// A step calls its `done` exactly once, at once or later on the loop; the next step starts only
// then. A step's errors carry its name as context ("upper disk: <reason>"), and a failure undoes
// what the finished steps acquired, newest first, before the create callback hears of it.
// Private to sandbox/: callers use Sandbox::create.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"
#include "guest_client/guest_connection.h"
#include "net/tls/certificate_authority.h"
#include "sandbox/sandbox.h"
#include "sandbox/sandbox_resources.h"
#include "sandbox/warm_start.h"
#include "vfs/mount_table.h"
#include "vm/accel_probe.h"
#include "vm/bundle.h"
#include "vm/qemu_command.h"
#include "vm/qemu_process.h"
#include "vm/vhost_user_listener.h"

namespace matchlock::sandbox {

class Boot : public std::enable_shared_from_this<Boot> {
 public:
  static void start(uv_loop_t* loop, SandboxOptions options, Sandbox::CreateCallback done);

 private:
  using StepDone = std::function<void(Status)>;
  struct Step {
    const char* context;                     // prefixes the step's errors
    void (*run)(Boot& boot, StepDone done);  // acquires something; calls done exactly once
  };
  static const Step kSteps[];

  Boot(std::shared_ptr<Sandbox> sandbox, Sandbox::CreateCallback done);
  void run_step(size_t index);
  static size_t files_step_index();  // where a boot starts again after a failed restore

  // The steps, in boot order.
  void open_state(StepDone done);
  void check_disks(StepDone done);
  void resolve_image(StepDone done);
  void publish_ports(StepDone done);
  void locate_guest_bundle(StepDone done);
  void register_sandbox(StepDone done);
  void create_upper_disk(StepDone done);
  void choose_accelerator(StepDone done);
  void create_certificate_authority(StepDone done);
  void start_network(StepDone done);
  void prepare_files(StepDone done);
  void plan_warm_start(StepDone done);
  void start_qemu(StepDone done);
  void connect_guest_and_qmp(StepDone done);
  void watch_agent_port();

  Status start_file_server(UniqueFd vhost_user_socket);
  vm::VmSpec vm_spec() const;
  // Warm starts (boot_warm.cpp).
  void save_guest_at_hello(std::function<void()> reply_to_guest);
  void commit_save(std::function<void()> then);
  void restore_guest(StepDone done);
  bool fall_back_to_cold_boot(const Error& e);  // false: not a restore, fail as usual
  void abandon_saved_guest(const Error& e);     // a restore plan becomes a cold (saving) one
  guest_client::GuestConfig guest_config() const;
  void arm_timeout();
  void on_vm_exit(const vm::ExitInfo& info);
  // "" unless QEMU refused a locked data disk (said in `e` or in QEMU's output).
  std::string disk_lock_refusal(const Error& e) const;
  void ready();
  void fail(Error e);
  // Fails with the context of the step running now (the VM exit and timeout watchdogs).
  void fail_in_current_step(const Error& e);
  bool finished() const { return !done_; }  // done_ is handed out exactly once
  Sandbox::Resources& res() const { return *sandbox_->res_; }

  std::shared_ptr<Sandbox> sandbox_;  // until handed to done_ (or dropped on failure)
  Sandbox::CreateCallback done_;
  size_t current_step_ = 0;
  // What the finished steps acquired, one entry each; run newest first on failure.
  std::vector<std::function<void()>> undo_;

  // Carried from one step to a later one.
  vm::GuestBundle bundle_;
  std::filesystem::path base_disk_;
  vm::AccelChoice accel_;
  bool slirp_baseline_ = false;  // MATCHLOCK_UNSAFE_SLIRP_BASELINE: QEMU's own network
  // Interception mode only: the sandbox's CA (its key never leaves this process) and its
  // certificate, which the guest configuration carries into the guest's trust store.
  std::shared_ptr<const net::tls::CertificateAuthority> certificate_authority_;
  std::string ca_certificate_pem_;
  // Where the current QEMU's NIC connects, until it has (its link then goes to res().net).
  std::unique_ptr<vm::VhostUserListener> net_listener_;
  UniqueFd control_socket_;  // host ends of the guest agent and QMP channels, until the
  UniqueFd qmp_socket_;      // connect step takes them
  std::unique_ptr<uv::Timer> timeout_;
  std::optional<vfs::MountTable> mount_table_;     // from the files step until the server has it
  GuestStartPlan guest_start_;                     // from the warm start step
  std::shared_ptr<BackgroundCheck> verification_;  // kRestore: the state file's checksum
  std::shared_ptr<BackgroundCheck> upper_copy_;    // kRestore: the writable disk's copy
  std::string qemu_identity_;
  // Each QEMU this boot starts is one attempt; callbacks of an abandoned attempt are ignored.
  uint64_t attempt_ = 0;
  size_t undo_before_qemu_ = 0;  // undo_.size() when "start QEMU" began
  // MATCHLOCK_LOG=debug prints a timeline: each step and warm-start milestone, in ms from here.
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  void log_milestone(const std::string& what) const;
};

}  // namespace matchlock::sandbox
