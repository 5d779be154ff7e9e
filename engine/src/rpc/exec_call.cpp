#include "rpc/exec_call.h"

#include <rapidjson/document.h>

#include <utility>

#include "core/log.h"
#include "rpc/message.h"
#include "rpc/output_budget.h"
#include "rpc/session.h"

namespace matchlock::rpc {
namespace {

const char* output_method(ExecMode mode, sandbox::OutputStream fd) {
  switch (mode) {
    case ExecMode::kStream:
      return fd == sandbox::OutputStream::kStderr ? "exec_stream.stderr" : "exec_stream.stdout";
    case ExecMode::kPipe:
      return fd == sandbox::OutputStream::kStderr ? "exec_pipe.stderr" : "exec_pipe.stdout";
    case ExecMode::kTty:
      return "exec_tty.stdout";  // a pty has one merged output
    case ExecMode::kBuffered:
      break;
  }
  return nullptr;
}

}  // namespace

ExecCall::ExecCall(std::weak_ptr<Session> server, uint64_t serial, std::optional<uint64_t> id,
                   ExecMode mode)
    : server_(std::move(server)), serial_(serial), id_(id), mode_(mode), start_ns_(uv_hrtime()) {}

void ExecCall::start(VmPort& vm, const sandbox::ExecSpec& spec) {
  std::weak_ptr<ExecCall> weak = shared_from_this();
  sandbox::ExecEvents ev;
  ev.on_output = [weak](sandbox::OutputStream fd, std::string_view bytes,
                        std::function<void()> consumed) {
    if (auto self = weak.lock()) {
      self->on_output(fd, bytes, std::move(consumed));
    } else {
      consumed();
    }
  };
  ev.on_exit = [weak](int code) {
    if (auto self = weak.lock()) self->on_exit(code);
  };
  ev.on_error = [weak](const Error& e, int) {
    if (auto self = weak.lock()) self->on_error(e);
  };
  auto handle = vm.exec(spec, std::move(ev));
  if (!finished_) handle_ = std::move(handle);
}

void ExecCall::cancel(uint32_t grace_ms) {
  if (finished_) return;
  cancelled_ = true;
  if (handle_) handle_->cancel(grace_ms);
}

void ExecCall::abandon() {
  if (finished_) return;
  if (handle_) handle_->cancel(0);
  finish_cancelled();
}

void ExecCall::write_stdin(std::string bytes) {
  if (finished_ || !handle_) return;
  handle_->write_stdin(std::move(bytes));
  if (handle_->stdin_backlog() > Session::kMaxStdinBacklog) {
    std::weak_ptr<Session> server = server_;
    handle_->set_on_stdin_drained([server] {
      if (auto s = server.lock()) s->update_input_pause();
    });
    if (auto s = server_.lock()) s->update_input_pause();
  }
}

void ExecCall::close_stdin() {
  if (!finished_ && handle_) handle_->close_stdin();
}

void ExecCall::resize(uint16_t rows, uint16_t cols) {
  if (!finished_ && handle_) handle_->resize(rows, cols);
}

size_t ExecCall::stdin_backlog() const {
  return finished_ || !handle_ ? 0 : handle_->stdin_backlog();
}

void ExecCall::on_output(sandbox::OutputStream fd, std::string_view bytes,
                         std::function<void()> consumed) {
  if (finished_ || (fd != sandbox::OutputStream::kStdout && fd != sandbox::OutputStream::kStderr))
    return consumed();
  if (mode_ == ExecMode::kBuffered) {
    buffer_output(fd, bytes);
    return consumed();
  }
  auto server = server_.lock();
  if (!server || !id_) return consumed();  // id-less exec_stream: no request to route to
  // Credit goes back to the guest only once the line is out, so a slow client slows the
  // process instead of growing our memory.
  server->send(data_notification_line(output_method(mode_, fd), *id_, bytes),
               [consumed = std::move(consumed)] { consumed(); });
}

void ExecCall::buffer_output(sandbox::OutputStream fd, std::string_view bytes) {
  const size_t slot = fd == sandbox::OutputStream::kStderr ? 1 : 0;
  BlockBuffer& buf = out_[slot];
  size_t room =
      reply_payload_budget().take(std::min(bytes.size(), kMaxBufferedOutput - buf.size()));
  budget_held_ += room;
  if (bytes.size() > room) {
    // Keep the head and drop the rest: the process keeps running, memory stays bounded.
    if (!truncated_[slot]) {
      log::warn("rpc: exec " + std::to_string(id_.value_or(0)) + ": " +
                (fd == sandbox::OutputStream::kStdout ? "stdout" : "stderr") + " truncated at " +
                std::to_string(buf.size() + room) + " bytes (per-stream limit " +
                std::to_string(kMaxBufferedOutput) + "; unsent replies of this engine hold " +
                std::to_string(reply_payload_budget().used()) + " of its " +
                std::to_string(reply_payload_budget().limit()) + " bytes)");
    }
    truncated_[slot] = true;
    bytes = bytes.substr(0, room);
  }
  buf.append(bytes);
}

ExecCall::~ExecCall() {
  release_buffers();
}

void ExecCall::release_buffers() {
  out_[0].clear();
  out_[1].clear();
  reply_payload_budget().give_back(budget_held_);
  budget_held_ = 0;
}

void ExecCall::on_exit(int exit_code) {
  if (finished_) return;
  if (cancelled_) return finish_cancelled();
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("exit_code", exit_code, a);
  if (mode_ != ExecMode::kBuffered) {
    d.AddMember("duration_ms", duration_ms(), a);
    return finish(result_line(id_, d));
  }
  // Dropped output is never silent (a matchlock extension to the result).
  if (truncated_[0]) d.AddMember("stdout_truncated", true, a);
  if (truncated_[1]) d.AddMember("stderr_truncated", true, a);
  d.AddMember("duration_ms", duration_ms(), a);
  std::string line = result_line_with_payloads(
      id_, d,
      {{"stdout", out_[0].pieces(), [this](size_t i) { out_[0].release_block(i); }},
       {"stderr", out_[1].pieces(), [this](size_t i) { out_[1].release_block(i); }}});
  out_[0].clear();
  out_[1].clear();
  // The budget stays held by the line until the client has it.
  size_t held = std::exchange(budget_held_, 0);
  finish(std::move(line), [held] { reply_payload_budget().give_back(held); });
}

void ExecCall::on_error(const Error& error) {
  if (finished_) return;
  if (cancelled_) return finish_cancelled();
  // The sandbox failing under the process (a crash) is the VM's failure, not the command's.
  finish(error_line(id_, error.code == ErrorCode::kVm ? kVmFailed : kExecFailed, error.message));
}

void ExecCall::finish_cancelled() {
  finish(error_line(id_, kCancelled, kCancelledMessage));
}

void ExecCall::finish(std::string line, std::function<void()> written) {
  if (finished_) return;
  finished_ = true;
  auto keep = shared_from_this();  // remove_call drops the server's reference
  handle_.reset();
  auto server = server_.lock();
  if (server && id_) {
    server->send(std::move(line), std::move(written));
  } else if (written) {
    written();  // a notification's exec runs unanswered; a gone client reads nothing
  }
  if (server) server->remove_call(serial_);
}

int64_t ExecCall::duration_ms() const {
  return static_cast<int64_t>((uv_hrtime() - start_ns_) / 1000000);
}

}  // namespace matchlock::rpc
