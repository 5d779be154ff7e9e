#include "volume/disk_users.h"

#include <rapidjson/document.h>

#include "core/json.h"
#include "state/reconcile.h"

namespace matchlock::volume {

Result<std::vector<DiskUser>> active_disk_users(state::StateStore& store,
                                                const std::string& host_path) {
  auto rows = state::list_reconciled(store);
  if (!rows.ok()) return rows.error();
  std::vector<DiskUser> users;
  for (const auto& row : *rows) {
    if (!row.is_active()) continue;
    json::Document config;
    config.Parse(row.config_json.c_str());
    if (config.HasParseError() || !config.IsObject()) continue;
    auto disks = config.FindMember("disks");
    if (disks == config.MemberEnd() || !disks->value.IsArray()) continue;
    for (const auto& d : disks->value.GetArray()) {
      if (!d.IsObject()) continue;
      auto path = d.FindMember("host_path");
      if (path == d.MemberEnd() || !path->value.IsString() || host_path != path->value.GetString())
        continue;
      auto ro = d.FindMember("readonly");
      users.push_back({row.id, ro != d.MemberEnd() && ro->value.IsBool() && ro->value.GetBool()});
    }
  }
  return users;
}

std::string describe_users(const std::vector<DiskUser>& users) {
  std::string out;
  for (const auto& u : users) {
    if (!out.empty()) out += ", ";
    out += u.sandbox_id + (u.readonly ? " (read-only)" : " (read-write)");
  }
  return out;
}

}  // namespace matchlock::volume
