// rpc `log` and `log_stream` (docs/rpc.md): the VM log of rpc/vm_log.h, whole or
// followed.
#include "core/base64.h"
#include "core/paths.h"
#include "core/uv.h"
#include "rpc/session.h"
#include "rpc/vm_log.h"

namespace matchlock::rpc {

// Read on the thread pool: up to 16 MiB of files is too much for the loop.
void Session::on_log(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  auto result = std::make_shared<Result<std::string>>(std::string());
  auto dir = sandbox_dir(host_->id());
  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  uv::queue_work(
      loop_, [result, dir] { *result = read_vm_log(dir, kMaxLogBytes); },
      [weak, id, result] {
        auto self = weak.lock();
        if (!self || self->done()) return;  // in flight at a close: still answered
        if (!result->ok()) return self->reply_error(id, kFileFailed, result->error().message);
        rapidjson::Document d(rapidjson::kObjectType);
        auto& a = d.GetAllocator();
        const std::string b64 = base64::encode(result->value());
        d.AddMember("content", rapidjson::Value(b64.c_str(), rapidjson::SizeType(b64.size()), a),
                    a);
        self->reply(id, d);
      });
}

// Never ends by itself: cancel, close or the client leaving ends it with -32003.
void Session::on_log_stream(const Request& req) {
  // Its data notifications are keyed by the request id: a notification (no id) is dropped.
  if (!req.id) return;
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  const uint64_t id = *req.id;
  std::weak_ptr<Session> weak = shared_from_this();
  auto stream = std::make_shared<LogStream>(
      loop_, sandbox_dir(host_->id()), id,
      [weak, id](std::string bytes, std::function<void()> written) {
        auto self = weak.lock();
        if (!self) return;
        self->send(data_notification_line("log_stream.data", id, bytes), std::move(written));
      });
  const uint64_t serial = next_serial_++;
  log_streams_[serial] = stream;
  if (auto st = stream->start(); !st.ok()) {
    log_streams_.erase(serial);
    return reply_error(id, kFileFailed, st.error().message);
  }
}

bool Session::cancel_log_stream(uint64_t id) {
  // Newest first, as for exec calls: a reused id names the latest request.
  for (auto it = log_streams_.rbegin(); it != log_streams_.rend(); ++it) {
    if (it->second->id() != id) continue;
    auto stream = it->second;
    log_streams_.erase(std::next(it).base());
    stream->stop();
    reply_error(id, kCancelled, kCancelledMessage);
    return true;
  }
  return false;
}

void Session::end_log_streams() {
  auto streams = std::move(log_streams_);
  log_streams_.clear();
  for (auto& [serial, stream] : streams) {
    stream->stop();
    reply_error(stream->id(), kCancelled, kCancelledMessage);
  }
}

}  // namespace matchlock::rpc
