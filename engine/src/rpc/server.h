// The JSON-RPC server behind `matchlock rpc`: one sandbox per process, requests dispatched by
// method, exec-family requests in flight concurrently and answered by id in completion order.
// Transport-agnostic: bytes in through handle_input / handle_eof, lines out through an Output.
#pragma once

#include <uv.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/uv.h"
#include "rpc/exec_call.h"
#include "rpc/line_framer.h"
#include "rpc/message.h"
#include "rpc/output.h"
#include "rpc/server_state.h"
#include "rpc/vm_port.h"

namespace matchlock::rpc {

class Server : public std::enable_shared_from_this<Server> {
 public:
  // How long a cancelled process gets between SIGTERM and SIGKILL.
  static constexpr uint32_t kCancelGraceMs = 2000;
  // A launched entrypoint that fails within this window fails `create`.
  static constexpr uint64_t kEntrypointSettleMs = 500;
  // Above this much unsent stdin for one exec, stop reading the client until it drains.
  static constexpr size_t kMaxStdinBacklog = 8 * 1024 * 1024;

  static std::shared_ptr<Server> create(uv_loop_t* loop, std::shared_ptr<Output> output,
                                        VmFactory vm_factory);
  ~Server();

  void handle_input(std::string_view bytes);
  // The client closed its end (or a signal asked us to stop): cancel everything, close the VM.
  void handle_eof();

  // Back-pressure hook: true = stop reading input, false = resume.
  void set_on_input_paused(std::function<void(bool)> fn) { on_input_paused_ = std::move(fn); }
  // Runs once when the server is finished: stdin ended, the VM is closed, output flushed.
  void set_on_done(std::function<void()> fn) { on_done_ = std::move(fn); }
  bool done() const { return session_ == SessionState::kFinished; }

 private:
  friend class ExecCall;
  Server(uv_loop_t* loop, std::shared_ptr<Output> output, VmFactory vm_factory);

  void handle_line(std::string_view line);
  void dispatch(const Request& req);

  void on_create(const Request& req);
  void on_create_result(std::optional<uint64_t> id, bool launch_entrypoint,
                        Result<std::shared_ptr<VmPort>> r);
  void launch_entrypoint(std::optional<uint64_t> id);
  void finish_create(std::optional<uint64_t> id, std::optional<RpcError> error);
  void on_close(const Request& req);
  void start_close();
  void on_cancel(const Request& req);
  void on_exec(const Request& req, ExecMode mode);
  void on_stdin(const Request& req, ExecMode mode, bool eof);
  void on_resize(const Request& req);
  void on_allow_list(const Request& req, bool add);

  std::shared_ptr<ExecCall> find_call(uint64_t id, std::optional<ExecMode> mode) const;
  void cancel_all_calls();
  void remove_call(uint64_t serial);
  void update_input_pause();
  void maybe_finish();
  void begin_teardown();
  void on_output_failed();
  // Every state change goes through these, which hold it to the rules of server_state.h.
  void move_to(SandboxState to);
  void move_to(SessionState to);
  bool serving() const { return session_ == SessionState::kServing; }
  bool client_gone() const { return input_ended_ || output_failed_; }

  void reply(std::optional<uint64_t> id, const rapidjson::Value& result);
  void reply_error(std::optional<uint64_t> id, int code, std::string_view message);
  void send(std::string line, std::function<void()> written = {});

  uv_loop_t* loop_;
  std::shared_ptr<Output> output_;
  VmFactory vm_factory_;
  LineFramer framer_;

  SandboxState sandbox_ = SandboxState::kNone;
  SessionState session_ = SessionState::kServing;

  std::shared_ptr<VmPort> vm_;  // set from the end of boot until a failed create tears it down
  std::shared_ptr<ExecPort> entrypoint_;
  std::unique_ptr<uv::Timer> entrypoint_timer_;

  std::map<uint64_t, std::shared_ptr<ExecCall>> calls_;  // by internal serial
  uint64_t next_serial_ = 1;

  // The client's `close`, answered once the sandbox is gone. Draining without one means the
  // client went away: nobody waits for a graceful stop, and a VM still booting is unwanted.
  struct CloseRequest {
    std::optional<uint64_t> id;
    uint64_t graceful_ms = 0;
  };
  std::optional<CloseRequest> close_request_;
  int pending_vm_closes_ = 0;  // VMs of failed creates being torn down

  // Facts about the transport, not states: either one means the client is gone.
  bool input_ended_ = false;
  bool output_failed_ = false;
  bool input_paused_ = false;  // back-pressure currently applied to the input

  std::function<void(bool)> on_input_paused_;
  std::function<void()> on_done_;
};

}  // namespace matchlock::rpc
