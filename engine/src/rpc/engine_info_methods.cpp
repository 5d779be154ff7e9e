// rpc `version` and `list_sandboxes` (matchlock extensions): answered without a sandbox, so an
// SDK may ask them of an engine it spawned only for that.
#include "core/build_info.h"
#include "core/paths.h"
#include "core/uv.h"
#include "rpc/sandbox_list.h"
#include "rpc/session.h"
#include "state/reconcile.h"

namespace matchlock::rpc {

void Session::on_version(const Request& req) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("version", rapidjson::StringRef(MATCHLOCK_VERSION), a);
  d.AddMember("commit", rapidjson::StringRef(build_git_commit()), a);
  reply(req.id, d);
}

// The state store is SQLite (busy timeout 5 s while another process writes): read on the
// thread pool, with a store of that thread's own.
void Session::on_list_sandboxes(const Request& req) {
  bool running_only = false;
  if (req.params && !req.params->IsObject())
    return reply_error(req.id, kInvalidParams, "invalid params: must be an object");
  if (req.params) {
    auto it = req.params->FindMember("running");
    if (it != req.params->MemberEnd() && !it->value.IsNull()) {
      if (!it->value.IsBool())
        return reply_error(req.id, kInvalidParams, "invalid running: must be a boolean");
      running_only = it->value.GetBool();
    }
  }
  auto rows =
      std::make_shared<Result<std::vector<state::SandboxRow>>>(std::vector<state::SandboxRow>());
  std::weak_ptr<Session> weak = shared_from_this();
  auto id = req.id;
  uv::queue_work(
      loop_,
      [rows] {
        auto store = state::StateStore::open(matchlock_home());
        if (!store.ok()) {
          *rows = store.error();
          return;
        }
        *rows = state::list_reconciled(**store);
      },
      [weak, id, rows, running_only] {
        auto self = weak.lock();
        if (!self || self->done()) return;  // in flight at a close: still answered
        if (!rows->ok()) return self->reply_error(id, kVmFailed, rows->error().message);
        self->reply(id, sandbox_list_result(rows->value(), running_only));
      });
}

}  // namespace matchlock::rpc
