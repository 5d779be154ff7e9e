#include "rpc/server.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <utility>

#include "core/base64.h"
#include "core/log.h"
#include "core/value_parsers.h"
#include "net/intercept/intercept_policy.h"
#include "rpc/create_params.h"

namespace matchlock::rpc {
namespace {

using rapidjson::Value;

// Methods of the original protocol this engine does not implement yet: answered with a clear
// -32000 instead of "Method not found", so SDK users see what is missing.
constexpr const char* kNotSupportedYet[] = {
    "write_file", "read_file", "list_files", "port_forward", "log", "log_stream",
};

Value string_array(const std::vector<std::string>& items, rapidjson::Document::AllocatorType& a) {
  Value arr(rapidjson::kArrayType);
  for (const auto& s : items) arr.PushBack(Value(s.c_str(), rapidjson::SizeType(s.size()), a), a);
  return arr;
}

Value empty_object() {
  return Value(rapidjson::kObjectType);
}

const Value* param(const Request& req, const char* name) {
  if (!req.params || !req.params->IsObject()) return nullptr;
  auto it = req.params->FindMember(name);
  if (it == req.params->MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::optional<std::string> string_param(const Request& req, const char* name, RpcError& err) {
  const Value* v = param(req, name);
  if (!v) return std::string();
  if (!v->IsString()) {
    err = {kInvalidParams, std::string("invalid ") + name + ": must be a string"};
    return std::nullopt;
  }
  return std::string(v->GetString(), v->GetStringLength());
}

// A uint16 dimension; 0/absent means "use the default".
std::optional<uint16_t> dimension_param(const Request& req, const char* name, uint16_t fallback,
                                        RpcError& err) {
  const Value* v = param(req, name);
  if (!v) return fallback;
  if (!v->IsUint() || v->GetUint() > 65535) {
    err = {kInvalidParams, std::string("invalid ") + name + ": must be an integer 0-65535"};
    return std::nullopt;
  }
  return v->GetUint() == 0 ? fallback : static_cast<uint16_t>(v->GetUint());
}

template <typename State>
void advance(State& current, State to, const char* machine) {
  if (!can_move(current, to)) {
    log::warn(std::string("rpc: bug: ") + machine + " state moved from " +
              std::string(to_string(current)) + " to " + std::string(to_string(to)));
    assert(false && "illegal rpc server state change");
  }
  current = to;
}

}  // namespace

std::shared_ptr<Server> Server::create(uv_loop_t* loop, std::shared_ptr<Output> output,
                                       VmFactory vm_factory) {
  return std::shared_ptr<Server>(new Server(loop, std::move(output), std::move(vm_factory)));
}

Server::Server(uv_loop_t* loop, std::shared_ptr<Output> output, VmFactory vm_factory)
    : loop_(loop),
      output_(std::move(output)),
      vm_factory_(std::move(vm_factory)),
      framer_([this](std::string_view line) { handle_line(line); },
              [this] {
                if (serving()) reply_error(std::nullopt, kParseError, "Parse error: line too long");
              }) {}

Server::~Server() = default;

void Server::move_to(SandboxState to) {
  advance(sandbox_, to, "sandbox");
}

void Server::move_to(SessionState to) {
  advance(session_, to, "session");
}

// ---- input -----------------------------------------------------------------------------------

void Server::handle_input(std::string_view bytes) {
  if (input_ended_) return;
  framer_.feed(bytes);
}

void Server::handle_eof() {
  if (input_ended_) return;
  framer_.finish();
  input_ended_ = true;
  begin_teardown();
  maybe_finish();
}

void Server::handle_line(std::string_view line) {
  if (!serving()) return;  // after close every line is ignored, never answered
  auto req = parse_request(line);
  if (!req) return reply_error(std::nullopt, kParseError, "Parse error");
  dispatch(*req);
}

void Server::dispatch(const Request& req) {
  const std::string& m = req.method;
  if (m == "create") return on_create(req);
  if (m == "close") return on_close(req);
  if (m == "cancel") return on_cancel(req);
  if (m == "exec") return on_exec(req, ExecMode::kBuffered);
  if (m == "exec_stream") return on_exec(req, ExecMode::kStream);
  if (m == "exec_pipe") return on_exec(req, ExecMode::kPipe);
  if (m == "exec_tty") return on_exec(req, ExecMode::kTty);
  // Input messages: keyed by params.id and never answered, even with a top-level id.
  if (m == "exec_pipe.stdin") return on_stdin(req, ExecMode::kPipe, false);
  if (m == "exec_pipe.stdin_eof") return on_stdin(req, ExecMode::kPipe, true);
  if (m == "exec_tty.stdin") return on_stdin(req, ExecMode::kTty, false);
  if (m == "exec_tty.stdin_eof") return on_stdin(req, ExecMode::kTty, true);
  if (m == "exec_tty.resize") return on_resize(req);
  if (m == "allow_list_add") return on_allow_list(req, true);
  if (m == "allow_list_delete") return on_allow_list(req, false);
  for (const char* name : kNotSupportedYet) {
    if (m == name) return reply_error(req.id, kVmFailed, m + " is not supported yet");
  }
  reply_error(req.id, kMethodNotFound, "Method not found");
}

// ---- allow-list (rpc-protocol.md §3.6) -------------------------------------------------------

void Server::on_allow_list(const Request& req, bool add) {
  if (sandbox_ != SandboxState::kReady) return reply_error(req.id, kVmFailed, "VM not created");
  const Value* hosts = param(req, "hosts");
  std::vector<std::string> list;
  if (hosts && !hosts->IsArray())
    return reply_error(req.id, kInvalidParams, "invalid hosts: must be an array of strings");
  if (hosts) {
    for (const auto& h : hosts->GetArray()) {
      if (!h.IsString())
        return reply_error(req.id, kInvalidParams, "invalid hosts: must be an array of strings");
      list.emplace_back(h.GetString(), h.GetStringLength());
    }
  }
  if (list.empty()) return reply_error(req.id, kInvalidParams, "hosts is required");
  net::InterceptPolicy* policy = vm_->network_policy();
  if (!policy) {
    return reply_error(
        req.id, kVmFailed,
        "allow-list updates unavailable: sandbox was started without network interception");
  }
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  if (add) {
    auto r = policy->allow_list().add(list);
    if (!r.ok()) return reply_error(req.id, kInvalidParams, r.error().message);
    d.AddMember("added", string_array(r->added, a), a);
    d.AddMember("allowed_hosts", string_array(r->allowed_hosts, a), a);
  } else {
    auto r = policy->allow_list().remove(list);
    d.AddMember("removed", string_array(r.removed, a), a);
    d.AddMember("allowed_hosts", string_array(r.allowed_hosts, a), a);
  }
  reply(req.id, d);
}

// ---- create ----------------------------------------------------------------------------------

void Server::on_create(const Request& req) {
  if (sandbox_ != SandboxState::kNone) {
    return reply_error(req.id, kVmFailed, "sandbox already created");
  }
  auto parsed = parse_create_params(req.params);
  if (!parsed.ok()) return reply_error(req.id, kInvalidParams, parsed.error().message);

  move_to(SandboxState::kCreating);
  std::weak_ptr<Server> weak = shared_from_this();
  auto id = req.id;
  bool launch = parsed->launch_entrypoint;
  vm_factory_(std::move(parsed->options), [weak, id, launch](Result<std::shared_ptr<VmPort>> r) {
    if (auto self = weak.lock()) self->on_create_result(id, launch, std::move(r));
  });
}

void Server::on_create_result(std::optional<uint64_t> id, bool launch,
                              Result<std::shared_ptr<VmPort>> r) {
  if (!r.ok()) {
    move_to(SandboxState::kNone);
    reply_error(id, kVmFailed, r.error().message);
    start_close();  // a close that waited for the create (no-op while serving)
    return maybe_finish();
  }
  vm_ = std::move(r.value());
  vm_->set_on_terminated([](const Error& e) {
    // Running execs fail on their own (the guest channel closes); later ones fail to start.
    log::warn("rpc: sandbox terminated: " + e.message);
  });
  if (!serving() && !close_request_) {
    // The client went away while we were booting: nobody wants this VM.
    return finish_create(id, RpcError{kCancelled, kCancelledMessage});
  }
  if (launch && serving()) return launch_entrypoint(id);
  finish_create(id, std::nullopt);
}

void Server::launch_entrypoint(std::optional<uint64_t> id) {
  sandbox::ExecSpec spec;
  spec.argv = vm_->entrypoint_command();
  if (spec.argv.empty()) return finish_create(id, std::nullopt);

  // Settles once: the process failed, exited, or is still running after the window. The flag
  // belongs to this launch, so a late event of an earlier entrypoint never settles a later one.
  auto settled = std::make_shared<bool>(false);
  std::weak_ptr<Server> weak = shared_from_this();
  auto settle = [weak, id, settled](std::optional<RpcError> error) {
    auto self = weak.lock();
    if (!self || *settled) return;
    *settled = true;
    if (self->entrypoint_timer_) self->entrypoint_timer_->stop();
    self->finish_create(id, std::move(error));
  };
  sandbox::ExecEvents ev;
  // No VM log yet: the entrypoint's output is discarded (credit returned at once).
  ev.on_output = [](channel::StreamFd, std::string_view, std::function<void()> consumed) {
    consumed();
  };
  ev.on_exit = [weak, settle](int code) {
    if (auto self = weak.lock()) self->entrypoint_.reset();
    if (code != 0) {
      settle(RpcError{kVmFailed, "start image entrypoint: exit code " + std::to_string(code)});
    } else {
      settle(std::nullopt);
    }
  };
  ev.on_error = [weak, settle](const Error& e, int) {
    if (auto self = weak.lock()) self->entrypoint_.reset();
    settle(RpcError{kVmFailed, "start image entrypoint: " + e.message});
  };
  entrypoint_timer_ = std::make_unique<uv::Timer>(loop_);
  entrypoint_timer_->start(kEntrypointSettleMs, [settle] { settle(std::nullopt); });
  auto handle = vm_->exec(spec, std::move(ev));
  // A start failure may already have settled (and torn down) the create synchronously.
  if (!*settled) entrypoint_ = std::move(handle);
}

void Server::finish_create(std::optional<uint64_t> id, std::optional<RpcError> error) {
  move_to(error ? SandboxState::kNone : SandboxState::kReady);
  if (!error) {
    rapidjson::Document d(rapidjson::kObjectType);
    std::string vm_id = vm_->id();
    d.AddMember("id", Value(vm_id.c_str(), rapidjson::SizeType(vm_id.size()), d.GetAllocator()),
                d.GetAllocator());
    reply(id, d);
  } else {
    // A sandbox that failed to start its entrypoint is torn down, not kept half-working, and
    // the error is answered only once it is gone: a client seeing it finds nothing left over.
    if (entrypoint_) entrypoint_->cancel(0);
    entrypoint_.reset();
    auto vm = std::move(vm_);
    if (!vm) {
      reply_error(id, error->code, error->message);
    } else {
      ++pending_vm_closes_;
      std::weak_ptr<Server> weak = shared_from_this();
      vm->close(0, [weak, vm, id, error](Status st) {
        if (!st.ok()) log::warn("rpc: closing failed sandbox: " + st.error().message);
        if (auto self = weak.lock()) {
          self->reply_error(id, error->code, error->message);
          --self->pending_vm_closes_;
          self->maybe_finish();
        }
      });
    }
  }
  start_close();  // a close that waited for the create (no-op while serving)
  maybe_finish();
}

// ---- close / teardown ------------------------------------------------------------------------

void Server::on_close(const Request& req) {
  double timeout_seconds = 0;
  if (const Value* t = param(req, "timeout_seconds")) {
    if (!t->IsNumber() || !std::isfinite(t->GetDouble()) || t->GetDouble() < 0) {
      return reply_error(req.id, kInvalidParams,
                         "invalid timeout_seconds: must be a non-negative number");
    }
    timeout_seconds = t->GetDouble();
  }
  move_to(SessionState::kDraining);
  close_request_ = CloseRequest{
      req.id, static_cast<uint64_t>(std::llround(std::min(timeout_seconds, 86400.0) * 1000))};
  cancel_all_calls();
  start_close();  // while creating, the end of the create starts it
}

void Server::begin_teardown() {
  if (serving()) move_to(SessionState::kDraining);  // without a close request: a hard stop
  cancel_all_calls();
  start_close();  // while creating, the end of the create starts it
}

void Server::start_close() {
  // Only once, only after a close was accepted or the client left, and never mid-create.
  if (serving() || !can_move(sandbox_, SandboxState::kClosing)) return;
  move_to(SandboxState::kClosing);
  cancel_all_calls();
  if (entrypoint_) entrypoint_->cancel(kCancelGraceMs);
  std::weak_ptr<Server> weak = shared_from_this();
  auto on_closed = [weak](Status st) {
    auto self = weak.lock();
    if (!self) return;
    self->move_to(SandboxState::kClosed);
    self->entrypoint_.reset();
    if (const auto& request = self->close_request_) {
      if (st.ok()) {
        self->reply(request->id, empty_object());
      } else {
        self->reply_error(request->id, kVmFailed, st.error().message);
      }
    }
    self->maybe_finish();
  };
  if (!vm_) return on_closed(Status());
  vm_->close(close_request_ ? close_request_->graceful_ms : 0, on_closed);
}

void Server::on_output_failed() {
  if (output_failed_) return;
  output_failed_ = true;
  log::warn("rpc: cannot write to stdout; shutting down");
  // Deferred: a failed write can be reported from deep inside an exec callback.
  std::weak_ptr<Server> weak = shared_from_this();
  uv::defer(loop_, [weak] {
    if (auto self = weak.lock()) {
      self->begin_teardown();
      self->maybe_finish();
    }
  });
}

void Server::maybe_finish() {
  if (session_ != SessionState::kDraining || !client_gone()) return;
  if (sandbox_ != SandboxState::kClosed || pending_vm_closes_ > 0) return;
  move_to(SessionState::kFlushing);
  // The VM is gone; a call whose process never reported back still gets its one reply.
  auto calls = calls_;
  for (auto& [serial, call] : calls) call->abandon();
  std::weak_ptr<Server> weak = shared_from_this();
  output_->flush([weak] {
    auto self = weak.lock();
    if (!self || self->session_ != SessionState::kFlushing) return;
    self->move_to(SessionState::kFinished);
    if (auto fn = std::move(self->on_done_)) fn();
  });
}

// ---- cancel ----------------------------------------------------------------------------------

void Server::on_cancel(const Request& req) {
  uint64_t target = 0;
  if (const Value* t = param(req, "id")) {
    if (!t->IsUint64()) {
      return reply_error(req.id, kInvalidParams, "invalid id: must be an unsigned integer");
    }
    target = t->GetUint64();
  } else if (req.params && !req.params->IsObject()) {
    return reply_error(req.id, kInvalidParams, "invalid params: must be an object");
  }
  bool cancelled = false;
  if (auto call = find_call(target, std::nullopt)) {
    call->cancel(kCancelGraceMs);
    cancelled = true;
  }
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("cancelled", cancelled, d.GetAllocator());
  reply(req.id, d);
}

void Server::cancel_all_calls() {
  auto calls = calls_;  // cancelling may finish calls and modify the map
  for (auto& [serial, call] : calls) call->cancel(kCancelGraceMs);
}

// ---- exec family -----------------------------------------------------------------------------

void Server::on_exec(const Request& req, ExecMode mode) {
  if (!req.id && (mode == ExecMode::kPipe || mode == ExecMode::kTty)) {
    return reply_error(std::nullopt, kInvalidRequest, req.method + " requires request id");
  }
  if (sandbox_ != SandboxState::kReady) return reply_error(req.id, kVmFailed, "VM not created");
  if (!req.params || !req.params->IsObject()) {
    return reply_error(req.id, kInvalidParams, "invalid params: command is required");
  }
  RpcError err;
  const Value* command = param(req, "command");
  if (!command || !command->IsString()) {
    return reply_error(req.id, kInvalidParams, "invalid command: must be a string");
  }
  auto workdir = string_param(req, "working_dir", err);
  if (!workdir) return reply_error(req.id, err.code, err.message);
  auto user = string_param(req, "user", err);
  if (!user) return reply_error(req.id, err.code, err.message);

  sandbox::ExecSpec spec;
  spec.argv = {"sh", "-c", std::string(command->GetString(), command->GetStringLength())};
  if (!workdir->empty()) {
    auto st = validate_absolute_guest_path(*workdir, "working_dir");
    if (!st.ok()) return reply_error(req.id, kInvalidParams, st.error().message);
    spec.workdir = *workdir;
  }
  if (!user->empty()) {
    if (auto st = validate_user_spec(*user); !st.ok()) {
      return reply_error(req.id, kInvalidParams, "invalid user \"" + *user + "\"");
    }
    spec.user = *user;
  }
  if (mode == ExecMode::kTty) {
    auto rows = dimension_param(req, "rows", 24, err);
    if (!rows) return reply_error(req.id, err.code, err.message);
    auto cols = dimension_param(req, "cols", 80, err);
    if (!cols) return reply_error(req.id, err.code, err.message);
    spec.tty = true;
    spec.rows = *rows;
    spec.cols = *cols;
  }
  spec.stdin_open = mode == ExecMode::kPipe || mode == ExecMode::kTty;

  uint64_t serial = next_serial_++;
  auto call = std::make_shared<ExecCall>(weak_from_this(), serial, req.id, mode);
  calls_[serial] = call;
  // Registered first, so the SDK's stdin (sent only after ready) always finds the call, and
  // ready precedes any output of the process.
  if (mode == ExecMode::kPipe) send(id_notification_line("exec_pipe.ready", *req.id));
  if (mode == ExecMode::kTty) send(id_notification_line("exec_tty.ready", *req.id));
  call->start(*vm_, spec);
}

void Server::on_stdin(const Request& req, ExecMode mode, bool eof) {
  const Value* target = param(req, "id");
  if (!target || !target->IsUint64()) return;
  auto call = find_call(target->GetUint64(), mode);
  if (!call) return;
  if (eof) return call->close_stdin();
  const Value* data = param(req, "data");
  if (!data || !data->IsString()) return;
  auto bytes = base64::decode(std::string_view(data->GetString(), data->GetStringLength()));
  if (!bytes) return;
  call->write_stdin(std::move(*bytes));
}

void Server::on_resize(const Request& req) {
  const Value* target = param(req, "id");
  const Value* rows = param(req, "rows");
  const Value* cols = param(req, "cols");
  if (!target || !target->IsUint64() || !rows || !cols) return;
  if (!rows->IsUint() || !cols->IsUint()) return;
  unsigned r = rows->GetUint(), c = cols->GetUint();
  if (r == 0 || c == 0 || r > 65535 || c > 65535) return;
  if (auto call = find_call(target->GetUint64(), ExecMode::kTty)) {
    call->resize(static_cast<uint16_t>(r), static_cast<uint16_t>(c));
  }
}

std::shared_ptr<ExecCall> Server::find_call(uint64_t id, std::optional<ExecMode> mode) const {
  // Newest first: if a client reuses an id, the latest request wins.
  for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
    const auto& call = it->second;
    if (call->id() == id && (!mode || call->mode() == *mode) && !call->finished()) return call;
  }
  return nullptr;
}

void Server::remove_call(uint64_t serial) {
  calls_.erase(serial);
  update_input_pause();
}

void Server::update_input_pause() {
  bool pause = false;
  for (const auto& [serial, call] : calls_) {
    if (call->stdin_backlog() > kMaxStdinBacklog) pause = true;
  }
  if (pause == input_paused_) return;
  input_paused_ = pause;
  if (on_input_paused_) on_input_paused_(pause);
}

// ---- output ----------------------------------------------------------------------------------

void Server::reply(std::optional<uint64_t> id, const rapidjson::Value& result) {
  send(result_line(id, result));
}

void Server::reply_error(std::optional<uint64_t> id, int code, std::string_view message) {
  send(error_line(id, code, message));
}

void Server::send(std::string line, std::function<void()> written) {
  if (output_failed_) {
    if (written) written();
    return;
  }
  std::weak_ptr<Server> weak = shared_from_this();
  output_->write_line(std::move(line), [weak, written = std::move(written)](bool ok) {
    if (written) written();
    if (!ok) {
      if (auto self = weak.lock()) self->on_output_failed();
    }
  });
}

}  // namespace matchlock::rpc
