#include "rpc/sandbox_list.h"

#include "core/json.h"
#include "rpc/file_wire.h"

namespace matchlock::rpc {

rapidjson::Value sandbox_record_json(const state::SandboxRow& row,
                                     rapidjson::Document::AllocatorType& a) {
  rapidjson::Value r(rapidjson::kObjectType);
  r.AddMember("id", json::str(row.id, a), a);
  r.AddMember("state", json::str(row.status, a), a);
  r.AddMember("image", json::str(row.image, a), a);
  if (row.is_active() && row.owner_pid > 0) r.AddMember("pid", row.owner_pid, a);
  r.AddMember("created_at", json::str(rfc3339_utc(row.created_unix), a), a);
  return r;
}

rapidjson::Document sandbox_list_result(const std::vector<state::SandboxRow>& rows,
                                        bool running_only) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value list(rapidjson::kArrayType);
  for (const auto& row : rows) {
    if (running_only && !row.is_active()) continue;
    list.PushBack(sandbox_record_json(row, a), a);
  }
  d.AddMember("sandboxes", list, a);
  return d;
}

}  // namespace matchlock::rpc
