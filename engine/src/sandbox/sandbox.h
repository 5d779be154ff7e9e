// The one sandbox API under both the CLI and rpc: create a VM from an image, run processes in
// it, close it. Everything runs on the owner's libuv loop; results arrive through callbacks.
//
// This header is deliberately narrow: what a sandbox owns (QEMU, QMP, the network stack, the
// state store) is declared in sandbox_resources.h, private to sandbox/.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "sandbox/exec.h"
#include "sandbox/guest_files.h"
#include "sandbox/lifecycle.h"
#include "sandbox/network_policy.h"
#include "sandbox/port_forward.h"
#include "sandbox/sandbox_event.h"
#include "sandbox/sandbox_options.h"
#include "vfs/file_operation.h"

namespace matchlock::image {
struct ImageConfig;
}
namespace matchlock::vm {
struct ExitInfo;
}

namespace matchlock::sandbox {

class Boot;

class Sandbox : public std::enable_shared_from_this<Sandbox> {
 public:
  using CreateCallback = std::function<void(Result<std::shared_ptr<Sandbox>>)>;

  // Boots a sandbox (the steps are in boot.h). The state row exists from the start (with owner
  // and QEMU pids); on failure everything is removed again before `done` reports the error.
  static void create(uv_loop_t* loop, SandboxOptions options, CreateCallback done);
  ~Sandbox();

  const std::string& id() const { return id_; }
  const image::ImageConfig& image_config() const;
  const SandboxOptions& options() const { return options_; }

  // Docker's ENTRYPOINT/CMD composition with the sandbox's overrides and `args` (user words).
  std::vector<std::string> compose_command(const std::vector<std::string>& args) const;

  // Events may fire before exec returns (a closed sandbox reports on_error at once).
  std::shared_ptr<ExecHandle> exec(const ExecSpec& spec, ExecEvents events);

  // Stops the VM (graceful: the guest powers off within `graceful_ms`, else a hard stop) and
  // removes its files and state row (unless keep_after_close). Safe to call more than once.
  void close(uint64_t graceful_ms, std::function<void(Status)> done);
  // Why the next close() stops the sandbox ("timed out after 60 s"): the detail of its
  // `stopping` history entry. Unset, a close is recorded without one (a client asked).
  void set_stop_reason(std::string reason) { stop_reason_ = std::move(reason); }

  // Fires once if the sandbox crashes while running: the VM dies or the guest channel is lost.
  // By then the state row says `crashed` (with why in its history) and every running exec has
  // ended with the same error, "sandbox <id> stopped unexpectedly: <why>". The owner still calls
  // close() to release the rest (and to remove the record unless it keeps crashed sandboxes).
  void set_on_terminated(std::function<void(const Error&)> fn) { on_terminated_ = std::move(fn); }

  // The allow-list of an interception-mode sandbox, changed while it runs (rpc allow_list_add
  // and allow_list_delete, `matchlock allow-list`). kUnsupported in NAT or no-network mode; an
  // invalid pattern is kInvalidArgument and changes nothing.
  Result<AllowListChange> allow_list_add(const std::vector<std::string>& hosts);
  Result<AllowListChange> allow_list_remove(const std::vector<std::string>& hosts);

  // Host TCP listeners relayed to guest ports through the agent (rpc port_forward,
  // `matchlock port-forward`). The listeners live as long as the returned forwarder (and never
  // longer than the sandbox's guest channel); a bind failure binds nothing and names the port.
  Result<std::unique_ptr<PortForwarder>> forward_ports(const std::vector<PortForwardRule>& rules);
  // What `run -p` (SandboxOptions::port_forwards) bound, with the ports actually chosen.
  std::vector<PortForwardBinding> published_ports() const;

  // Guest files through the agent (sandbox/files.cpp). Errors: kNotFound for a missing path,
  // kInvalidArgument for a wrong kind of file (a directory to read_file), kGuest otherwise,
  // each naming the path. `limit` bounds the bytes read (the rest of the file is not read).
  void read_file(const std::string& path, uint64_t offset, uint64_t limit,
                 std::function<void(Result<GuestFileChunk>)> done);
  void write_file(GuestFileWrite request, std::function<void(Status)> done);
  void list_files(const std::string& path,
                  std::function<void(Result<std::vector<GuestFileInfo>>)> done);
  // lstat(): nullopt when the path (or a parent) does not exist; `name` is the path's last
  // component ("/" for the root).
  void stat_file(const std::string& path,
                 std::function<void(Result<std::optional<GuestFileInfo>>)> done);
  void make_dir(GuestMakeDir request, std::function<void(Status)> done);
  // A file, symlink or empty directory; `recursive`: a whole tree, never through a symlink.
  void remove_file(const std::string& path, bool recursive, std::function<void(Status)> done);
  // rename(2) inside the guest.
  void rename_file(const std::string& old_path, const std::string& new_path,
                   std::function<void(Status)> done);

  // Every VFS operation the hooks observe (when vfs hooks emit events) and, in interception
  // mode, every HTTP exchange and blocked connection: rpc `event` notices.
  void set_on_event(std::function<void(const SandboxEvent&)> fn) { on_event_ = std::move(fn); }

  // Last lines of the guest console, for error messages.
  std::string console_tail(size_t max_lines = 20) const;
  // Last lines QEMU wrote on its stdout/stderr (qemu.log), for error messages.
  std::string qemu_output_tail(size_t max_lines = 5) const;

 private:
  friend class Boot;
  struct Resources;

  Sandbox(uv_loop_t* loop, std::string id, SandboxOptions options);
  // The only place the lifecycle changes; false (and no change) if can_move() forbids it.
  bool move_to(Lifecycle next);
  void on_vm_exit(const vm::ExitInfo& info);
  // The one place a running sandbox becomes crashed: state row, running execs, on_terminated.
  void crash(const std::string& reason);
  // A running exec lost the guest channel (exit code -1): reported with the crash's error.
  void report_exec_lost(std::function<void(const Error&, int)> on_error, const Error& e);
  // The guest channel or the network link failed; news only while the sandbox is open.
  void on_guest_lost(const Error& e);
  void on_network_lost(const Error& e);
  void stop_vm(uint64_t graceful_ms);
  // Opens a port stream into the guest once it is running; null before or after.
  std::shared_ptr<guest_client::PortHandle> open_guest_port(const guest_client::PortTarget& target,
                                                            guest_client::PortEvents events);
  void finish_close(Status st);
  void remove_files_and_state();

  uv_loop_t* loop_;
  std::string id_;
  SandboxOptions options_;
  Lifecycle lifecycle_ = Lifecycle::kBooting;
  std::unique_ptr<Resources> res_;
  std::function<void(const Error&)> on_terminated_;
  std::function<void(const SandboxEvent&)> on_event_;
  std::vector<std::function<void(Status)>> close_waiters_;
  std::string stop_reason_;
  std::optional<Error> crash_error_;  // set once crashed
  // Execs that lost the channel before the crash's cause was known (see on_guest_lost).
  std::vector<std::pair<std::function<void(const Error&, int)>, Error>> execs_lost_early_;
};

}  // namespace matchlock::sandbox
