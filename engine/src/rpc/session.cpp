#include "rpc/session.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <utility>
#include <variant>

#include "core/base64.h"
#include "core/log.h"
#include "core/value_parsers.h"
#include "rpc/create_params.h"
#include "rpc/exec_env_param.h"
#include "rpc/port_forward_params.h"

namespace matchlock::rpc {
namespace {

using rapidjson::Value;

// Requests that need no sandbox, or act on the create barrier itself, never wait for a create.
// exec_pipe.stdin, exec_tty.resize, ...: keyed by params.id, never answered.
bool is_input_message(const std::string& method) {
  return method.find('.') != std::string::npos;
}

bool waits_for_create(const std::string& method) {
  for (const char* m : {"create", "close", "cancel", "version", "list_sandboxes"}) {
    if (method == m) return false;
  }
  return true;
}

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

}  // namespace

std::shared_ptr<Session> Session::create(uv_loop_t* loop, std::shared_ptr<Output> output,
                                         VmFactory vm_factory) {
  return open(loop, std::move(output), SandboxHost::create(loop, std::move(vm_factory)),
              SessionRole::kOwner);
}

std::shared_ptr<Session> Session::open(uv_loop_t* loop, std::shared_ptr<Output> output,
                                       std::shared_ptr<SandboxHost> host, SessionRole role) {
  auto s = std::shared_ptr<Session>(new Session(loop, std::move(output), std::move(host), role));
  s->host_->add_observer(s);
  return s;
}

Session::Session(uv_loop_t* loop, std::shared_ptr<Output> output, std::shared_ptr<SandboxHost> host,
                 SessionRole role)
    : loop_(loop),
      output_(std::move(output)),
      host_(std::move(host)),
      role_(role),
      framer_([this](std::string_view line) { handle_line(line); },
              [this] {
                if (serving())
                  send(error_line(std::nullopt, kParseError, "Parse error: line too long"));
              }) {}

Session::~Session() = default;

void Session::move_to(SessionState to) {
  if (!can_move(session_, to)) {
    log::warn("rpc: bug: session state moved from " + std::string(to_string(session_)) + " to " +
              std::string(to_string(to)));
    assert(false && "illegal rpc session state change");
  }
  session_ = to;
}

// ---- input -----------------------------------------------------------------------------------

void Session::handle_input(std::string_view bytes) {
  if (input_ended_) return;
  framer_.feed(bytes);
}

void Session::handle_eof() {
  if (input_ended_) return;
  framer_.finish();
  input_ended_ = true;
  begin_teardown();
  maybe_finish();
}

void Session::handle_line(std::string_view line) {
  if (!serving()) return;  // after close every line is ignored, never answered
  auto parsed = parse_request(line);
  if (auto* rejected = std::get_if<RejectedLine>(&parsed)) {
    // Answered even without an id: the client cannot have meant it as a notification.
    return send(error_line(rejected->id, rejected->code, rejected->message));
  }
  auto req = std::get<Request>(std::move(parsed));
  // create is a barrier (docs/rpc.md): what arrives while it runs waits for its end.
  if (host_->state() == SandboxState::kCreating && waits_for_create(req.method)) {
    waiting_for_create_.push_back(std::move(req));
    return update_input_pause();
  }
  dispatch(req);
}

void Session::release_waiting_for_create() {
  auto waiting = std::move(waiting_for_create_);
  waiting_for_create_.clear();
  update_input_pause();
  for (const auto& req : waiting) {
    if (serving()) dispatch(req);
  }
}

bool Session::cancel_waiting_for_create(uint64_t id) {
  for (auto it = waiting_for_create_.begin(); it != waiting_for_create_.end(); ++it) {
    if (it->id != id || is_input_message(it->method)) continue;
    auto req = std::move(*it);
    waiting_for_create_.erase(it);
    reply_error(req.id, kCancelled, kCancelledMessage);
    return true;
  }
  return false;
}

void Session::cancel_all_waiting_for_create() {
  auto waiting = std::move(waiting_for_create_);
  waiting_for_create_.clear();
  for (const auto& req : waiting) {
    // Input messages are never answered; the rest end as cancelled, as running calls do.
    if (!is_input_message(req.method)) reply_error(req.id, kCancelled, kCancelledMessage);
  }
  update_input_pause();
}

void Session::dispatch(const Request& req) {
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
  if (m == "port_forward") return on_port_forward(req);
  if (m == "set_timeout") return on_set_timeout(req);
  if (m == "write_file") return on_write_file(req);
  if (m == "read_file") return on_read_file(req);
  if (m == "list_files") return on_list_files(req);
  if (m == "log") return on_log(req);
  if (m == "log_stream") return on_log_stream(req);
  if (m == "version") return on_version(req);
  if (m == "list_sandboxes") return on_list_sandboxes(req);
  if (m == "stat_file") return on_stat_file(req);
  if (m == "make_dir") return on_make_dir(req);
  if (m == "remove_file") return on_remove_file(req);
  if (m == "rename_file") return on_rename_file(req);
  reply_error(req.id, kMethodNotFound, "Method not found");
}

// ---- port_forward (docs/rpc.md) -----------------------------------------------------

// The new set replaces this session's previous one (the old listeners close first, so a
// forward may be re-requested on the same port). The listeners belong to the session: they
// end with the next port_forward, the sandbox, or the client's connection (so
// `matchlock port-forward` forwards exactly as long as it runs).
void Session::on_port_forward(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  auto rules = parse_port_forward_params(req.params);
  if (!rules.ok()) return reply_error(req.id, kInvalidParams, rules.error().message);
  forwards_.reset();
  auto forwarder = host_->vm().forward_ports(*rules);
  if (!forwarder.ok()) return reply_error(req.id, kVmFailed, forwarder.error().message);
  forwards_ = std::move(forwarder.value());
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  Value bindings(rapidjson::kArrayType);
  for (const auto& b : forwards_->bindings()) {
    Value item(rapidjson::kObjectType);
    item.AddMember("address", Value(b.address.c_str(), a), a);
    item.AddMember("local_port", b.host_port, a);
    item.AddMember("remote_port", b.guest_port, a);
    bindings.PushBack(item, a);
  }
  d.AddMember("bindings", bindings, a);
  reply(req.id, d);
}

// ---- allow-list (docs/rpc.md) -------------------------------------------------------

void Session::on_allow_list(const Request& req, bool add) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
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
  auto r = add ? host_->vm().allow_list_add(list) : host_->vm().allow_list_remove(list);
  if (!r.ok()) {
    const bool bad_host = r.error().code == ErrorCode::kInvalidArgument;
    return reply_error(req.id, bad_host ? kInvalidParams : kVmFailed, r.error().message);
  }
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember(rapidjson::StringRef(add ? "added" : "removed"), string_array(r->changed, a), a);
  d.AddMember("allowed_hosts", string_array(r->allowed_hosts, a), a);
  reply(req.id, d);
}

// ---- create ----------------------------------------------------------------------------------

void Session::on_create(const Request& req) {
  if (!owner()) {
    // A control-socket client reaches a sandbox that exists already; it never makes another.
    return reply_error(req.id, kVmFailed, "sandbox " + host_->id() + " already exists");
  }
  if (host_->state() != SandboxState::kNone) {
    return reply_error(req.id, kVmFailed, "sandbox already created");
  }
  auto parsed = parse_create_params(req.params);
  if (!parsed.ok()) return reply_error(req.id, kInvalidParams, parsed.error().message);

  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  host_->create(std::move(parsed.value()), [weak, id](std::optional<RpcError> error) {
    auto self = weak.lock();
    if (!self) return;
    if (error) {
      self->reply_error(id, error->code, error->message);
    } else {
      rapidjson::Document d(rapidjson::kObjectType);
      std::string vm_id = self->host_->id();
      d.AddMember("id", Value(vm_id.c_str(), rapidjson::SizeType(vm_id.size()), d.GetAllocator()),
                  d.GetAllocator());
      self->reply(id, d);
    }
    // After the reply: what waited for the create is answered after it (`VM not created` if
    // it failed).
    self->release_waiting_for_create();
  });
}

// ---- close / teardown ------------------------------------------------------------------------

void Session::on_close(const Request& req) {
  double timeout_seconds = 0;
  if (const Value* t = param(req, "timeout_seconds")) {
    if (!t->IsNumber() || !std::isfinite(t->GetDouble()) || t->GetDouble() < 0) {
      return reply_error(req.id, kInvalidParams,
                         "invalid timeout_seconds: must be a non-negative number");
    }
    timeout_seconds = t->GetDouble();
  }
  move_to(SessionState::kDraining);
  close_requested_ = true;
  cancel_all_calls();
  auto graceful_ms = static_cast<uint64_t>(std::llround(std::min(timeout_seconds, 86400.0) * 1000));
  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  host_->close(graceful_ms, false, [weak, id](Status st) {
    auto self = weak.lock();
    if (!self) return;
    if (st.ok()) {
      self->reply(id, empty_object());
    } else {
      self->reply_error(id, kVmFailed, st.error().message);
    }
  });
}

void Session::begin_teardown() {
  if (serving()) move_to(SessionState::kDraining);  // without a close request: a hard stop
  forwards_.reset();
  cancel_all_calls();
  // Only the owner's client going away stops the sandbox; a control client's only its calls.
  if (owner()) host_->close(0, !close_requested_, {});
}

void Session::on_sandbox_closing() {
  // Stopped by this or another client: no new requests, running calls end as cancelled.
  if (serving()) move_to(SessionState::kDraining);
  forwards_.reset();
  cancel_all_calls();
}

void Session::on_sandbox_closed() {
  maybe_finish();
}

void Session::on_output_failed() {
  if (output_failed_) return;
  output_failed_ = true;
  log::warn(owner() ? "rpc: cannot write to stdout; shutting down"
                    : "rpc: control client stopped reading; dropping it");
  // Deferred: a failed write can be reported from deep inside an exec callback.
  std::weak_ptr<Session> weak = shared_from_this();
  uv::defer(loop_, [weak] {
    if (auto self = weak.lock()) {
      self->begin_teardown();
      self->maybe_finish();
    }
  });
}

void Session::maybe_finish() {
  if (session_ != SessionState::kDraining) return;
  const bool closed = host_->state() == SandboxState::kClosed;
  if (owner()) {
    // The owner waits for its sandbox to be gone; after its own close also for its client to
    // leave (the protocol ends at stdin EOF), but not when another client stopped the sandbox.
    if (!closed || (close_requested_ && !client_gone())) return;
  } else if (!closed && !client_gone()) {
    return;  // a control client still there keeps its session until the sandbox ends
  }
  move_to(SessionState::kFlushing);
  // A call whose process never reported back still gets its one reply.
  auto calls = calls_;
  for (auto& [serial, call] : calls) call->abandon();
  std::weak_ptr<Session> weak = shared_from_this();
  output_->flush([weak] {
    auto self = weak.lock();
    if (!self || self->session_ != SessionState::kFlushing) return;
    self->move_to(SessionState::kFinished);
    if (auto fn = std::move(self->on_done_)) fn();
  });
}

// ---- cancel ----------------------------------------------------------------------------------

void Session::on_cancel(const Request& req) {
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
  } else {
    cancelled = cancel_waiting_for_create(target) || cancel_log_stream(target);
  }
  rapidjson::Document d(rapidjson::kObjectType);
  d.AddMember("cancelled", cancelled, d.GetAllocator());
  reply(req.id, d);
}

void Session::cancel_all_calls() {
  auto calls = calls_;  // cancelling may finish calls and modify the map
  for (auto& [serial, call] : calls) call->cancel(kCancelGraceMs);
  cancel_all_waiting_for_create();
  end_log_streams();
}

// ---- exec family -----------------------------------------------------------------------------

void Session::on_exec(const Request& req, ExecMode mode) {
  // Their notifications and input are keyed by the request id; a notification (no id) cannot
  // use them, and is never answered, so it is dropped.
  if (!req.id && (mode == ExecMode::kPipe || mode == ExecMode::kTty)) return;
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
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
  auto env = parse_exec_env(param(req, "env"));
  if (!env.ok()) return reply_error(req.id, kInvalidParams, env.error().message);
  spec.extra_env = std::move(env.value());
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
  call->start(host_->vm(), spec);
}

void Session::on_stdin(const Request& req, ExecMode mode, bool eof) {
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

void Session::on_resize(const Request& req) {
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

std::shared_ptr<ExecCall> Session::find_call(uint64_t id, std::optional<ExecMode> mode) const {
  // Newest first: if a client reuses an id, the latest request wins.
  for (auto it = calls_.rbegin(); it != calls_.rend(); ++it) {
    const auto& call = it->second;
    if (call->id() == id && (!mode || call->mode() == *mode) && !call->finished()) return call;
  }
  return nullptr;
}

void Session::remove_call(uint64_t serial) {
  calls_.erase(serial);
  update_input_pause();
}

void Session::update_input_pause() {
  bool pause = waiting_for_create_.size() >= kMaxWaitingForCreate;
  for (const auto& [serial, call] : calls_) {
    if (call->stdin_backlog() > kMaxStdinBacklog) pause = true;
  }
  if (pause == input_paused_) return;
  input_paused_ = pause;
  if (on_input_paused_) on_input_paused_(pause);
}

// ---- output ----------------------------------------------------------------------------------

// JSON-RPC 2.0: a notification (a request without an id) is never answered, not even with an
// error; only a line that is not a request at all (-32700, -32600) is answered without an id.
void Session::reply(std::optional<uint64_t> id, const rapidjson::Value& result) {
  if (!id) return;
  send(result_line(id, result));
}

// A notification (no id) is never answered, not even with an error (JSON-RPC 2.0).
void Session::reply_error(std::optional<uint64_t> id, int code, std::string_view message) {
  if (!id) return;
  send(error_line(id, code, message));
}

void Session::send(std::string line, std::function<void()> written) {
  if (output_failed_) {
    if (written) written();
    return;
  }
  std::weak_ptr<Session> weak = shared_from_this();
  output_->write_line(std::move(line), [weak, written = std::move(written)](bool ok) {
    if (written) written();
    if (!ok) {
      if (auto self = weak.lock()) self->on_output_failed();
    }
  });
}

}  // namespace matchlock::rpc
