// The one sandbox API under both the CLI and rpc: create a VM from an image, run processes in
// it, close it. Everything runs on the owner's libuv loop; results arrive through callbacks.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"
#include "guest/guest_connection.h"
#include "image/image_store.h"
#include "net/intercept/intercept_policy.h"
#include "net/network_stack.h"
#include "sandbox/sandbox_options.h"
#include "state/state_store.h"
#include "vm/qemu_process.h"
#include "vm/qmp_client.h"

namespace matchlock::sandbox {

// One process to run. Unset fields take the sandbox's defaults (image config, -e, -w, -u).
struct ExecSpec {
  std::vector<std::string> argv;
  std::vector<std::string> extra_env;  // "K=V", highest precedence
  std::optional<std::string> workdir;
  std::optional<std::string> user;
  bool tty = false;
  uint16_t rows = 24, cols = 80;
  bool stdin_open = false;
};

class Sandbox : public std::enable_shared_from_this<Sandbox> {
 public:
  using CreateCallback = std::function<void(Result<std::shared_ptr<Sandbox>>)>;

  // Boots a sandbox. The state row exists from the start (with owner and QEMU pids); on failure
  // everything is removed again before `done` reports the error.
  static void create(uv_loop_t* loop, SandboxOptions options, CreateCallback done);
  ~Sandbox();

  const std::string& id() const { return id_; }
  const image::ImageConfig& image_config() const { return image_.config; }
  const SandboxOptions& options() const { return options_; }

  // Docker's ENTRYPOINT/CMD composition with the sandbox's overrides and `args` (user words).
  std::vector<std::string> compose_command(const std::vector<std::string>& args) const;

  std::shared_ptr<guest::ExecHandle> exec(const ExecSpec& spec, guest::ExecEvents events);

  // Stops the VM (graceful: the guest powers off within `graceful_ms`, else a hard stop) and
  // removes its files and state row (unless keep_after_close). Safe to call more than once.
  void close(uint64_t graceful_ms, std::function<void(Status)> done);

  // Fires if the VM dies or the guest channel is lost while the sandbox is open.
  void set_on_terminated(std::function<void(const Error&)> fn) { on_terminated_ = std::move(fn); }

  // Interception mode's policy (its allow-list is changed at runtime by rpc); else null.
  net::InterceptPolicy* network_policy() const { return policy_.get(); }

  // Last lines of the guest console, for error messages.
  std::string console_tail(size_t max_lines = 20) const;

 private:
  struct Boot;
  explicit Sandbox(uv_loop_t* loop) : loop_(loop) {}
  void on_vm_exit(const vm::ExitInfo& info);
  // Starts the network stack; returns the socketpair end QEMU inherits as its netdev.
  Result<UniqueFd> start_network();
  void finish_close(Status st);
  void remove_files_and_state();

  uv_loop_t* loop_;
  std::string id_;
  SandboxOptions options_;
  image::ImageRecord image_;
  std::filesystem::path dir_;
  std::unique_ptr<state::StateStore> state_;
  std::unique_ptr<vm::QemuProcess> qemu_;
  std::unique_ptr<vm::QmpClient> qmp_;
  std::unique_ptr<net::NetworkStack> net_;        // null with --no-network
  std::shared_ptr<net::InterceptPolicy> policy_;  // null unless interception mode
  std::shared_ptr<guest::GuestConnection> guest_;
  std::function<void(const Error&)> on_terminated_;
  std::vector<std::function<void(Status)>> close_waiters_;
  std::unique_ptr<uv::Timer> close_timer_;
  bool closing_ = false;
  bool closed_ = false;
  bool vm_exited_ = false;
};

}  // namespace matchlock::sandbox
