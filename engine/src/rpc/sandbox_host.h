// The sandbox-owning half of the rpc server: one per owner process. It holds the VM (through
// the VmPort seam), boots it, launches the image entrypoint, and closes it once, whichever
// client asks. Clients talk to it through sessions (rpc/session.h): the owner's own stdio
// session and any number of control-socket sessions.
//
// Its state machine is SandboxState in rpc/server_state.h.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/append_file.h"
#include "core/uv.h"
#include "rpc/create_params.h"
#include "rpc/message.h"
#include "rpc/server_state.h"
#include "rpc/vm_port.h"

namespace matchlock::rpc {

// Told by the host about the sandbox's life (sessions and the control listener).
class SandboxObserver {
 public:
  virtual ~SandboxObserver() = default;
  // The VM is being stopped: running calls are being cancelled, no new ones start.
  virtual void on_sandbox_closing() {}
  // The VM is gone for good.
  virtual void on_sandbox_closed() {}
  // A guest file operation the VFS hooks observed (vfs.interception emit_events or rules), or
  // an HTTP exchange / blocked connection of the interception proxy.
  virtual void on_sandbox_event(const sandbox::SandboxEvent& /*event*/) {}
};

class SandboxHost : public std::enable_shared_from_this<SandboxHost> {
 public:
  // How long a cancelled process gets between SIGTERM and SIGKILL.
  static constexpr uint32_t kCancelGraceMs = 2000;
  // A launched entrypoint that fails within this window, counted from the moment the guest
  // started it, fails `create`. Counted from the start, not the request: under TCG a restored
  // guest spends longer than the window translating the code that spawns it.
  static constexpr uint64_t kEntrypointSettleMs = 500;
  // How long the guest may take to start the entrypoint at all before `create` fails.
  static constexpr uint64_t kEntrypointStartMs = 30'000;

  // A host with no sandbox yet; `create` boots one through `vm_factory`.
  static std::shared_ptr<SandboxHost> create(uv_loop_t* loop, VmFactory vm_factory);
  // A host around a sandbox that is already running (`matchlock run` booted it itself).
  static std::shared_ptr<SandboxHost> adopt(uv_loop_t* loop, std::shared_ptr<VmPort> vm);

  SandboxState state() const { return state_; }
  bool ready() const { return state_ == SandboxState::kReady; }
  // The sandbox id once booted, else "".
  std::string id() const;
  // The running VM; only while ready().
  VmPort& vm() { return *vm_; }

  // Boots the sandbox (only from kNone). `done` runs once: nullopt when ready, else the error
  // to answer, after a half-started sandbox is torn down (nothing is left over).
  using CreateDone = std::function<void(std::optional<RpcError>)>;
  void create(CreateRequest request, CreateDone done);

  // Stops the sandbox; `done` runs once the VM is gone (every caller's, in call order). A close
  // that arrives while booting waits for the boot to end. `owner_gone`: the owner's client went
  // away, so nobody wants a VM that is still booting (its create is answered as cancelled).
  void close(uint64_t graceful_ms, bool owner_gone, std::function<void(Status)> done);

  // The sandbox's lifetime (rpc set_timeout, run --timeout): `seconds` from now it is closed
  // for every client, as `close` would with `graceful_ms`, and its lifecycle history says it
  // timed out. A new call replaces the pending lifetime; 0 clears it. Seconds beyond
  // kMaxTimeoutSeconds count as that (never an overflow into an early stop). Returns the
  // deadline, or nullopt when cleared or when the sandbox is not ready.
  static constexpr uint64_t kMaxTimeoutSeconds = 100ull * 365 * 24 * 3600;
  std::optional<std::chrono::system_clock::time_point> set_timeout(uint64_t seconds,
                                                                   uint64_t graceful_ms = 0);
  // Told when the lifetime ends, just before the sandbox starts closing (`run` reports it).
  void set_on_timed_out(std::function<void(const std::string& reason)> fn) {
    on_timed_out_ = std::move(fn);
  }

  // Observers are held weakly and told in registration order.
  void add_observer(std::weak_ptr<SandboxObserver> observer);
  // Runs once when the sandbox becomes ready (e.g. to start the control socket).
  void set_on_ready(std::function<void()> fn) { on_ready_ = std::move(fn); }
  // The sandbox crashed (its VM died or its guest channel was lost): told to the owner, which
  // reports it; the host then closes the sandbox by itself, so every session ends its calls and
  // the control socket goes away whoever owns it.
  void set_on_terminated(std::function<void(const Error&)> fn) { on_terminated_ = std::move(fn); }
  // The crash's error once the sandbox crashed, for the owner's exit status.
  const std::optional<Error>& crash() const { return crash_; }

 private:
  SandboxHost(uv_loop_t* loop, VmFactory vm_factory);
  void on_create_result(bool launch_entrypoint, Result<std::shared_ptr<VmPort>> r);
  void watch_termination();
  void watch_events();
  void on_vm_crashed(const Error& e);
  void launch_entrypoint();
  void finish_create(std::optional<RpcError> error);
  void start_close();
  void on_lifetime_expired(uint64_t seconds, uint64_t graceful_ms);
  void on_closed(Status st);
  void move_to(SandboxState to);
  template <typename Fn>
  void notify(Fn fn);

  uv_loop_t* loop_;
  VmFactory vm_factory_;
  SandboxState state_ = SandboxState::kNone;
  std::shared_ptr<VmPort> vm_;
  std::shared_ptr<ExecPort> entrypoint_;
  std::unique_ptr<uv::Timer> entrypoint_timer_;
  std::shared_ptr<AppendFile> entrypoint_log_;  // its output, into the VM log
  CreateDone create_done_;

  struct PendingClose {
    uint64_t graceful_ms = 0;
    bool owner_gone = false;
  };
  std::optional<PendingClose> close_;  // asked for; started once not booting
  std::vector<std::function<void(Status)>> close_waiters_;

  std::vector<std::weak_ptr<SandboxObserver>> observers_;
  std::function<void()> on_ready_;
  std::function<void(const Error&)> on_terminated_;
  std::optional<Error> crash_;
  std::unique_ptr<uv::Timer> lifetime_timer_;  // set_timeout; null when none is pending
  std::function<void(const std::string&)> on_timed_out_;
  std::string stop_reason_;  // why the host closes the sandbox itself ("" = a client asked)
};

}  // namespace matchlock::rpc
