// One in-flight exec-family request (exec, exec_stream, exec_pipe, exec_tty): relays the
// process's output as notifications or buffers it, and sends exactly one final reply.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rpc/block_buffer.h"
#include "rpc/vm_port.h"

namespace matchlock::rpc {

class Session;

enum class ExecMode { kBuffered, kStream, kPipe, kTty };

class ExecCall : public std::enable_shared_from_this<ExecCall> {
 public:
  // Buffered `exec` keeps at most this much of each of stdout and stderr.
  static constexpr size_t kMaxBufferedOutput = 64 * 1024 * 1024;

  ExecCall(std::weak_ptr<Session> server, uint64_t serial, std::optional<uint64_t> id,
           ExecMode mode);
  ~ExecCall();

  // Starts the process. The call may already be finished when this returns.
  void start(VmPort& vm, const sandbox::ExecSpec& spec);
  // Kills the process; the final reply becomes -32003 when it ends.
  void cancel(uint32_t grace_ms);
  // Ends the call now with -32003 (teardown of a process that never reported back).
  void abandon();

  void write_stdin(std::string bytes);
  void close_stdin();
  void resize(uint16_t rows, uint16_t cols);
  size_t stdin_backlog() const;

  std::optional<uint64_t> id() const { return id_; }
  ExecMode mode() const { return mode_; }
  bool finished() const { return finished_; }

 private:
  void on_output(sandbox::OutputStream fd, std::string_view bytes, std::function<void()> consumed);
  void buffer_output(sandbox::OutputStream fd, std::string_view bytes);
  void on_exit(int exit_code);
  void on_error(const Error& error);
  void finish_cancelled();
  void release_buffers();
  // Sends the final reply (if not sent yet) and unregisters the call; `written` runs once the
  // line reached the client (or there is no client to reach).
  void finish(std::string line, std::function<void()> written = {});
  int64_t duration_ms() const;

  std::weak_ptr<Session> server_;
  uint64_t serial_;
  std::optional<uint64_t> id_;
  ExecMode mode_;
  std::shared_ptr<ExecPort> handle_;
  uint64_t start_ns_;
  BlockBuffer out_[2];  // buffered stdout, stderr
  bool truncated_[2] = {false, false};
  size_t budget_held_ = 0;  // bytes of reply_payload_budget() that out_ holds
  bool cancelled_ = false;
  bool finished_ = false;
};

}  // namespace matchlock::rpc
