#include "rpc/vfs_params.h"

#include <sys/stat.h>

#include <string>

#include "vfs/hook_rules.h"

namespace matchlock::rpc {
namespace {

using rapidjson::Value;

Error invalid(const std::string& field, const std::string& why) {
  return invalid_argument("invalid " + field + ": " + why);
}

const Value* member(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

std::string mount_field(const std::string& guest) {
  return "vfs.mounts[\"" + guest + "\"]";
}

// One vfs.mounts entry: `key` is the guest path as the client wrote it.
Result<sandbox::MountSpec> parse_mount(const std::string& key, const Value& v,
                                       const std::string& workspace) {
  const std::string field = mount_field(key);
  if (!v.IsObject()) return invalid(field, "must be an object");
  if (key.empty() || key.front() != '/') return invalid(field, "guest path must be absolute");
  sandbox::MountSpec spec;
  spec.guest_path = sandbox::clean_absolute_path(key);

  std::string type = "memory";  // the original engine's fallback for an absent type
  if (const Value* t = member(v, "type")) {
    if (!t->IsString()) return invalid(field + ".type", "must be a string");
    type.assign(t->GetString(), t->GetStringLength());
  }
  bool readonly = false;
  if (const Value* r = member(v, "readonly")) {
    if (!r->IsBool()) return invalid(field + ".readonly", "must be a boolean");
    readonly = r->GetBool();
  }
  std::string host;
  if (const Value* h = member(v, "host_path")) {
    if (!h->IsString()) return invalid(field + ".host_path", "must be a string");
    host.assign(h->GetString(), h->GetStringLength());
  }

  if (type == "memory") {
    if (!host.empty()) return invalid(field + ".host_path", "a memory mount has no host path");
    if (readonly) return invalid(field + ".readonly", "a memory mount cannot be read-only");
    spec.mode = sandbox::MountMode::kMemory;
  } else if (type == "host_fs" || type == "overlay") {
    if (member(v, "upper") || member(v, "lower")) {
      return invalid(field, "upper/lower are not supported");
    }
    if (host.empty()) return invalid(field + ".host_path", "is required for " + type);
    if (host.front() != '/') return invalid(field + ".host_path", "must be absolute");
    spec.host_path = sandbox::clean_absolute_path(host);
    struct stat st {};
    if (::stat(spec.host_path.c_str(), &st) != 0) {
      return invalid(field + ".host_path", "host path does not exist: \"" + host + "\"");
    }
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
      return invalid(field + ".host_path", "is neither a directory nor a regular file");
    }
    // A read-only overlay is the same thing as read-only host_fs: the host never changes.
    spec.mode =
        readonly ? sandbox::MountMode::kReadOnly
                 : (type == "overlay" ? sandbox::MountMode::kOverlay : sandbox::MountMode::kHostFs);
  } else {
    return invalid(field + ".type", "unknown type \"" + type + "\" (memory, host_fs, overlay)");
  }
  (void)workspace;
  return spec;
}

}  // namespace

Result<sandbox::VfsOptions> parse_vfs_params(const Value& v) {
  if (!v.IsObject()) return invalid("vfs", "must be an object");
  sandbox::VfsOptions vfs;
  if (const Value* w = member(v, "workspace")) {
    if (!w->IsString()) return invalid("vfs.workspace", "must be a string");
    if (w->GetStringLength() > 0) {
      auto ws = sandbox::parse_workspace({w->GetString(), w->GetStringLength()}, "vfs.workspace");
      if (!ws.ok()) return ws.error();
      vfs.workspace = *ws;
    }
  }
  std::vector<std::string> keys;  // as written, for error labels (same order as vfs.mounts)
  if (const Value* mounts = member(v, "mounts")) {
    if (!mounts->IsObject()) return invalid("vfs.mounts", "must be an object");
    for (const auto& m : mounts->GetObject()) {
      std::string key(m.name.GetString(), m.name.GetStringLength());
      auto spec = parse_mount(key, m.value, vfs.workspace);
      if (!spec.ok()) return spec.error();
      vfs.mounts.push_back(std::move(*spec));
      keys.push_back(std::move(key));
    }
  }
  MATCHLOCK_TRY(sandbox::validate_mounts(vfs, [&](const sandbox::MountSpec& m) {
    return "invalid " + mount_field(keys[static_cast<size_t>(&m - vfs.mounts.data())]);
  }));
  if (const Value* i = member(v, "interception")) {
    auto hooks = vfs::parse_hook_settings(*i, "vfs.interception");
    if (!hooks.ok()) return invalid_argument("invalid " + hooks.error().message);
    vfs.hooks = std::move(*hooks);
  }
  // "direct_mounts" is accepted and unused, as by the original engine.
  return vfs;
}

}  // namespace matchlock::rpc
