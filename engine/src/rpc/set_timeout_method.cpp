// rpc `set_timeout` (a matchlock extension): the sandbox's lifetime, shared with
// `run --timeout` (SandboxHost::set_timeout). Any client may set it, the owner or a control
// client; at the deadline the sandbox closes for all of them.
#include <chrono>

#include "rpc/file_wire.h"
#include "rpc/session.h"
#include "rpc/set_timeout_params.h"

namespace matchlock::rpc {

void Session::on_set_timeout(const Request& req) {
  if (!host_->ready()) return reply_error(req.id, kVmFailed, "VM not created");
  auto seconds = parse_set_timeout_params(req.params);
  if (!seconds.ok()) return reply_error(req.id, kInvalidParams, seconds.error().message);
  auto deadline = host_->set_timeout(*seconds);
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value expires(rapidjson::kNullType);
  if (deadline) {
    // Rounded up: the sandbox is never gone before the time the client was told.
    const auto unix_s =
        std::chrono::ceil<std::chrono::seconds>(deadline->time_since_epoch()).count();
    const std::string text = rfc3339_utc(unix_s);
    expires.SetString(text.c_str(), rapidjson::SizeType(text.size()), a);
  }
  d.AddMember("expires_at", expires, a);
  reply(req.id, d);
}

}  // namespace matchlock::rpc
