// rpc write_file / read_file / list_files (docs/rpc.md, with the offset/limit/truncate
// extension `matchlock cp` streams through), the stat_file / make_dir / remove_file /
// rename_file extensions, and file `event` notifications (§7).
#include "core/base64.h"
#include "rpc/file_op_params.h"
#include "rpc/file_wire.h"
#include "rpc/message.h"
#include "rpc/output_budget.h"
#include "rpc/session.h"

namespace matchlock::rpc {
namespace {

using rapidjson::Value;

const Value* param(const Request& req, const char* name) {
  if (!req.params || !req.params->IsObject()) return nullptr;
  auto it = req.params->FindMember(name);
  if (it == req.params->MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

// The guest path: a missing one is a file failure (-32002), as the guest would report it.
std::optional<std::string> path_param(const Request& req, RpcError& err) {
  const Value* v = param(req, "path");
  if (v && !v->IsString()) {
    err = {kInvalidParams, "invalid path: must be a string"};
    return std::nullopt;
  }
  if (!v || v->GetStringLength() == 0) {
    err = {kFileFailed, "path is required"};
    return std::nullopt;
  }
  return std::string(v->GetString(), v->GetStringLength());
}

std::optional<uint64_t> u64_param(const Request& req, const char* name, RpcError& err) {
  const Value* v = param(req, name);
  if (!v) return uint64_t{0};
  if (!v->IsUint64()) {
    err = {kInvalidParams, std::string("invalid ") + name + ": must be a non-negative integer"};
    return std::nullopt;
  }
  return v->GetUint64();
}

int file_error_code(const Error& e) {
  return e.code == ErrorCode::kUnsupported ? kVmFailed : kFileFailed;
}

}  // namespace

void Session::on_write_file(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  RpcError err;
  auto path = path_param(req, err);
  if (!path) return reply_error(req.id, err.code, err.message);
  sandbox::GuestFileWrite w;
  w.path = *path;
  if (const Value* c = param(req, "content")) {
    if (!c->IsString()) return reply_error(req.id, kInvalidParams, "invalid base64 content");
    auto bytes = base64::decode({c->GetString(), c->GetStringLength()});
    if (!bytes) return reply_error(req.id, kInvalidParams, "invalid base64 content");
    w.data = std::move(*bytes);
  }
  auto mode = u64_param(req, "mode", err);
  auto offset = mode ? u64_param(req, "offset", err) : std::nullopt;
  if (!mode || !offset) return reply_error(req.id, err.code, err.message);
  w.mode = (*mode & 07777) == 0 ? 0644 : static_cast<uint32_t>(*mode & 07777);
  w.offset = *offset;
  if (const Value* t = param(req, "truncate")) {
    if (!t->IsBool())
      return reply_error(req.id, kInvalidParams, "invalid truncate: must be a boolean");
    w.truncate = t->GetBool();
  }
  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  host_->vm().write_file(std::move(w), [weak, id](Status st) {
    auto self = weak.lock();
    if (!self) return;
    if (!st.ok()) return self->reply_error(id, file_error_code(st.error()), st.error().message);
    self->reply(id, Value(rapidjson::kObjectType));
  });
}

// Without `limit` the whole file, refused above kMaxReadFileBytes (the reference's limit); with
// it at most `limit` bytes from `offset` (capped at the same size: one reply stays bounded).
void Session::on_read_file(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  RpcError err;
  auto path = path_param(req, err);
  if (!path) return reply_error(req.id, err.code, err.message);
  auto offset = u64_param(req, "offset", err);
  auto limit = offset ? u64_param(req, "limit", err) : std::nullopt;
  if (!offset || !limit) return reply_error(req.id, err.code, err.message);
  const bool whole = *limit == 0;
  // One byte more than allowed tells a too-large file without reading all of it.
  const uint64_t ask = whole ? kMaxReadFileBytes + 1 : std::min(*limit, kMaxReadFileBytes);
  // At most file_reads_in_flight() reads hold guest data at once; each one's content then waits
  // for room in the reply budget, which it holds until its line has been written. The read's
  // slot goes back when the last copy of `slot` goes, whichever way the read ends.
  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  file_reads_in_flight().acquire(1, [weak, id, whole, ask, off = *offset, p = *path] {
    std::shared_ptr<void> slot(nullptr, [](void*) { file_reads_in_flight().give_back(1); });
    auto self = weak.lock();
    if (!self || !self->host_->ready()) return;
    self->host_->vm().read_file(p, off, ask, [weak, id, whole, p, slot](auto r) {
      auto self = weak.lock();
      if (!self) return;
      if (!r.ok()) return self->reply_error(id, file_error_code(r.error()), r.error().message);
      if (whole && (r->file_size > kMaxReadFileBytes || r->data.size() > kMaxReadFileBytes)) {
        return self->reply_error(
            id, kFileFailed,
            "read_file exceeds " + std::to_string(kMaxReadFileBytes) + " bytes: " + p);
      }
      auto chunk = std::make_shared<sandbox::GuestFileChunk>(std::move(*r));
      const size_t held = chunk->data.size();
      reply_payload_budget().acquire(held, [weak, id, chunk, held, slot]() mutable {
        slot.reset();  // its bytes are in the reply budget now
        auto self = weak.lock();
        if (!self || !id) return reply_payload_budget().give_back(held);
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        d.AddMember("size", chunk->file_size, a);
        d.AddMember("mode", chunk->mode & 07777, a);
        std::string line = result_line_with_payloads(id, d, {{"content", {chunk->data}}});
        chunk->data = std::string();
        self->send(std::move(line), [held] { reply_payload_budget().give_back(held); });
      });
    });
  });
}

void Session::on_list_files(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  RpcError err;
  auto path = path_param(req, err);
  if (!path) return reply_error(req.id, err.code, err.message);
  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  host_->vm().list_files(*path, [weak, id](auto r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r.ok()) return self->reply_error(id, file_error_code(r.error()), r.error().message);
    rapidjson::Document d(rapidjson::kObjectType);
    auto& a = d.GetAllocator();
    Value files(rapidjson::kArrayType);  // always an array, never null (Python iterates it)
    for (const auto& info : *r) files.PushBack(file_info_json(info, a), a);
    d.AddMember("files", files, a);
    self->reply(id, d);
  });
}

// The four extensions answer bad params with -32602 naming the field (file_op_params.h) and
// guest failures with -32002 carrying the guest's "<op> <path>: <errno text>".

void Session::on_stat_file(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  auto path = parse_stat_file_params(req.params);
  if (!path.ok()) return reply_error(req.id, kInvalidParams, path.error().message);
  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  host_->vm().stat_file(*path, [weak, id](Result<std::optional<sandbox::GuestFileInfo>> r) {
    auto self = weak.lock();
    if (!self) return;
    if (!r.ok()) return self->reply_error(id, file_error_code(r.error()), r.error().message);
    rapidjson::Document d;
    Value result = stat_result_json(*r, d.GetAllocator());
    self->reply(id, result);
  });
}

void Session::on_make_dir(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  auto request = parse_make_dir_params(req.params);
  if (!request.ok()) return reply_error(req.id, kInvalidParams, request.error().message);
  host_->vm().make_dir(std::move(*request), status_reply(req.id));
}

void Session::on_remove_file(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  auto p = parse_remove_file_params(req.params);
  if (!p.ok()) return reply_error(req.id, kInvalidParams, p.error().message);
  host_->vm().remove_file(p->path, p->recursive, status_reply(req.id));
}

void Session::on_rename_file(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  auto p = parse_rename_file_params(req.params);
  if (!p.ok()) return reply_error(req.id, kInvalidParams, p.error().message);
  host_->vm().rename_file(p->old_path, p->new_path, status_reply(req.id));
}

// {} when the guest operation succeeded, else its error (-32002).
std::function<void(Status)> Session::status_reply(std::optional<uint64_t> id) {
  std::weak_ptr<Session> weak = shared_from_this();
  return [weak, id](Status st) {
    auto self = weak.lock();
    if (!self) return;
    if (!st.ok()) return self->reply_error(id, file_error_code(st.error()), st.error().message);
    self->reply(id, Value(rapidjson::kObjectType));
  };
}

}  // namespace matchlock::rpc
