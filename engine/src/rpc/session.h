// One client's conversation with the rpc server: NDJSON framing, dispatch by method, its
// in-flight exec-family calls (answered by id in completion order) and its output. The sandbox
// itself lives in a SandboxHost shared by every session of the owner process.
//
// Two roles:
//  - the owner session (`matchlock rpc`'s stdin/stdout): may `create`; when its client goes
//    away the sandbox is stopped (hard), as the SDKs expect;
//  - attached sessions (control-socket clients): use the existing sandbox; `create` is refused;
//    `close` stops the sandbox for everyone; a client that leaves only loses its own calls.
// Transport-agnostic: bytes in through handle_input / handle_eof, lines out through an Output.
// The session's state machine is SessionState in rpc/server_state.h.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "rpc/exec_call.h"
#include "rpc/line_framer.h"
#include "rpc/log_stream.h"
#include "rpc/message.h"
#include "rpc/output.h"
#include "rpc/sandbox_host.h"
#include "rpc/server_state.h"
#include "rpc/vm_port.h"

namespace matchlock::rpc {

enum class SessionRole { kOwner, kAttached };

class Session : public SandboxObserver, public std::enable_shared_from_this<Session> {
 public:
  static constexpr uint32_t kCancelGraceMs = SandboxHost::kCancelGraceMs;
  static constexpr uint64_t kEntrypointSettleMs = SandboxHost::kEntrypointSettleMs;
  // Above this much unsent stdin for one exec, stop reading the client until it drains.
  static constexpr size_t kMaxStdinBacklog = 8 * 1024 * 1024;
  // Above this many requests waiting for a running `create`, stop reading the client until it
  // ends (a client pipelining without bound must not grow the engine's memory).
  static constexpr size_t kMaxWaitingForCreate = 1024;

  // `matchlock rpc`: a new host (no sandbox yet) and its owner session.
  static std::shared_ptr<Session> create(uv_loop_t* loop, std::shared_ptr<Output> output,
                                         VmFactory vm_factory);
  // A session on an existing host, in the given role.
  static std::shared_ptr<Session> open(uv_loop_t* loop, std::shared_ptr<Output> output,
                                       std::shared_ptr<SandboxHost> host, SessionRole role);
  ~Session() override;

  void handle_input(std::string_view bytes);
  // The client closed its end (or a signal asked us to stop). Owner: cancel everything and
  // close the VM. Attached: cancel this client's calls only.
  void handle_eof();

  // Back-pressure hook: true = stop reading input, false = resume.
  void set_on_input_paused(std::function<void(bool)> fn) { on_input_paused_ = std::move(fn); }
  // Runs once when the session is finished and its output flushed.
  void set_on_done(std::function<void()> fn) { on_done_ = std::move(fn); }
  bool done() const { return session_ == SessionState::kFinished; }
  const std::shared_ptr<SandboxHost>& host() const { return host_; }

  void on_sandbox_closing() override;
  void on_sandbox_closed() override;
  // rpc/event_notifications.cpp
  void on_sandbox_event(const sandbox::SandboxEvent& event) override;

  // `event` lines (file and network) queued to this client and not yet written; beyond this
  // many, new events are dropped (a slow client must not grow the engine's memory, nor slow
  // the guest).
  static constexpr size_t kMaxEventsInFlight = 1024;

 private:
  friend class ExecCall;
  Session(uv_loop_t* loop, std::shared_ptr<Output> output, std::shared_ptr<SandboxHost> host,
          SessionRole role);

  void handle_line(std::string_view line);
  void dispatch(const Request& req);

  void on_create(const Request& req);
  void on_close(const Request& req);
  void on_cancel(const Request& req);
  void on_exec(const Request& req, ExecMode mode);
  void on_stdin(const Request& req, ExecMode mode, bool eof);
  void on_resize(const Request& req);
  void on_allow_list(const Request& req, bool add);
  void on_port_forward(const Request& req);
  void on_set_timeout(const Request& req);  // rpc/set_timeout_method.cpp
  // rpc/file_methods.cpp
  void on_write_file(const Request& req);
  void on_read_file(const Request& req);
  void on_list_files(const Request& req);
  // rpc/log_methods.cpp
  void on_log(const Request& req);
  void on_log_stream(const Request& req);
  bool cancel_log_stream(uint64_t id);
  void end_log_streams();
  // rpc/engine_info_methods.cpp (no sandbox needed)
  void on_version(const Request& req);
  void on_list_sandboxes(const Request& req);

  // The create barrier: requests that arrive while the sandbox boots wait for it, then run in
  // arrival order.
  void release_waiting_for_create();
  bool cancel_waiting_for_create(uint64_t id);
  void cancel_all_waiting_for_create();
  void on_stat_file(const Request& req);
  void on_make_dir(const Request& req);
  void on_remove_file(const Request& req);
  void on_rename_file(const Request& req);
  std::function<void(Status)> status_reply(std::optional<uint64_t> id);

  std::shared_ptr<ExecCall> find_call(uint64_t id, std::optional<ExecMode> mode) const;
  void cancel_all_calls();
  void remove_call(uint64_t serial);
  void update_input_pause();
  void maybe_finish();
  void begin_teardown();
  void on_output_failed();
  void move_to(SessionState to);
  bool serving() const { return session_ == SessionState::kServing; }
  bool client_gone() const { return input_ended_ || output_failed_; }
  bool owner() const { return role_ == SessionRole::kOwner; }

  void reply(std::optional<uint64_t> id, const rapidjson::Value& result);
  void reply_error(std::optional<uint64_t> id, int code, std::string_view message);
  void send(std::string line, std::function<void()> written = {});

  uv_loop_t* loop_;
  std::shared_ptr<Output> output_;
  std::shared_ptr<SandboxHost> host_;
  SessionRole role_;
  LineFramer framer_;

  SessionState session_ = SessionState::kServing;

  std::map<uint64_t, std::shared_ptr<ExecCall>> calls_;         // by internal serial
  std::map<uint64_t, std::shared_ptr<LogStream>> log_streams_;  // by internal serial
  std::deque<Request> waiting_for_create_;
  std::unique_ptr<sandbox::PortForwarder> forwards_;  // this client's port_forward set
  uint64_t next_serial_ = 1;

  // This client's `close`, answered once the sandbox is gone. An owner draining without one
  // had its client go away, or the sandbox was stopped by another client.
  bool close_requested_ = false;

  // Facts about the transport, not states: either one means the client is gone.
  bool input_ended_ = false;
  bool output_failed_ = false;
  bool input_paused_ = false;  // back-pressure currently applied to the input

  size_t events_in_flight_ = 0;
  uint64_t events_dropped_ = 0;

  std::function<void(bool)> on_input_paused_;
  std::function<void()> on_done_;
};

}  // namespace matchlock::rpc
