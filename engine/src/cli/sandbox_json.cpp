#include "cli/sandbox_json.h"

#include <rapidjson/document.h>
#include <rapidjson/prettywriter.h>
#include <rapidjson/stringbuffer.h>

#include "cli/human_time.h"
#include "core/json.h"

namespace matchlock::cli {
namespace {

using Alloc = rapidjson::Document::AllocatorType;

rapidjson::Value pid_or_null(int64_t pid) {
  return pid > 0 ? rapidjson::Value(pid) : rapidjson::Value(rapidjson::kNullType);
}

void add_summary(rapidjson::Value& obj, const state::SandboxRow& row, Alloc& a) {
  obj.AddMember("id", json::str(row.id, a), a);
  obj.AddMember("status", json::str(row.status, a), a);
  obj.AddMember("image", json::str(row.image, a), a);
  obj.AddMember("created_at", json::str(rfc3339_utc(row.created_unix), a), a);
  obj.AddMember("owner_pid", pid_or_null(row.owner_pid), a);
  obj.AddMember("qemu_pid", pid_or_null(row.qemu_pid), a);
}

std::string pretty(const rapidjson::Value& v) {
  rapidjson::StringBuffer sb;
  json::PrettyWriter w(sb);
  w.SetIndent(' ', 2);
  v.Accept(w);
  return std::string(sb.GetString(), sb.GetSize()) + "\n";
}

// Defence in depth: config_json is redacted by its writer, but a secret value must never be
// printed even if one slipped through, so every "secrets" map loses its values here.
void drop_secret_values(rapidjson::Value& v) {
  if (v.IsArray()) {
    for (auto& item : v.GetArray()) drop_secret_values(item);
    return;
  }
  if (!v.IsObject()) return;
  for (auto& m : v.GetObject()) {
    if (m.name == "secrets" && m.value.IsObject()) {
      for (auto& secret : m.value.GetObject()) {
        if (secret.value.IsObject()) {
          secret.value.RemoveMember("value");
        } else {
          secret.value.SetNull();  // a bare "NAME": "value" form
        }
      }
      continue;
    }
    drop_secret_values(m.value);
  }
}

// A copy of config[path...] or null.
rapidjson::Value section(const rapidjson::Value& config, std::initializer_list<const char*> path,
                         Alloc& a) {
  const rapidjson::Value* v = &config;
  for (const char* key : path) {
    v = json::member(*v, key);
    if (!v) return rapidjson::Value(rapidjson::kNullType);
  }
  return rapidjson::Value(*v, a);
}

rapidjson::Value process(int64_t pid, int64_t start_time, bool alive, Alloc& a) {
  rapidjson::Value p(rapidjson::kObjectType);
  p.AddMember("pid", pid_or_null(pid), a);
  p.AddMember("start_time", start_time > 0 ? rapidjson::Value(start_time) : rapidjson::Value(), a);
  p.AddMember("alive", alive, a);
  return p;
}

}  // namespace

std::string sandbox_summary_json(const state::SandboxRow& row) {
  json::Document d(rapidjson::kObjectType);
  add_summary(d, row, d.GetAllocator());
  return pretty(d);
}

std::string sandbox_inspect_json(const state::SandboxRow& row,
                                 const std::vector<state::LifecycleRow>& history,
                                 const ProcessLiveness& liveness) {
  json::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  add_summary(d, row, a);
  d.AddMember("owner", process(row.owner_pid, row.owner_start_time, liveness.owner_alive, a), a);
  d.AddMember("qemu", process(row.qemu_pid, row.qemu_start_time, liveness.qemu_alive, a), a);

  json::Document config;
  config.Parse(row.config_json.c_str(), row.config_json.size());
  if (config.HasParseError() || !config.IsObject()) config.SetNull();
  drop_secret_values(config);
  d.AddMember("resources", section(config, {"resources"}, a), a);
  d.AddMember("network", section(config, {"network"}, a), a);
  auto mounts = section(config, {"vfs", "mounts"}, a);
  if (mounts.IsNull()) mounts = section(config, {"mounts"}, a);
  d.AddMember("mounts", mounts, a);
  d.AddMember("ports", section(config, {"ports"}, a), a);
  d.AddMember("config", rapidjson::Value(config, a), a);

  rapidjson::Value events(rapidjson::kArrayType);
  for (const auto& h : history) {
    rapidjson::Value e(rapidjson::kObjectType);
    e.AddMember("phase", json::str(h.phase, a), a);
    e.AddMember("detail", json::str(h.detail, a), a);
    e.AddMember("at", json::str(rfc3339_utc(h.at_unix), a), a);
    events.PushBack(e, a);
  }
  d.AddMember("history", events, a);
  return pretty(d);
}

}  // namespace matchlock::cli
