#include "sandbox/options_record.h"

#include "core/json.h"
#include "sandbox/network_policy.h"

namespace matchlock::sandbox {
namespace {

using Alloc = rapidjson::Document::AllocatorType;

rapidjson::Value env_object(const std::vector<std::string>& env, Alloc& a) {
  rapidjson::Value obj(rapidjson::kObjectType);
  for (const auto& kv : env) {
    auto eq = kv.find('=');
    std::string key = kv.substr(0, eq);
    std::string value = eq == std::string::npos ? "" : kv.substr(eq + 1);
    if (obj.HasMember(key.c_str())) obj.RemoveMember(key.c_str());
    obj.AddMember(json::str(key, a), json::str(value, a), a);
  }
  return obj;
}

// Name and hosts only: the value (and the placeholder, which would let a reader of the state
// database tell which requests carried the secret) are never written.
rapidjson::Value secrets_array(const SandboxOptions& o, Alloc& a) {
  rapidjson::Value out(rapidjson::kArrayType);
  for (const auto& secret : o.secrets) {
    RedactedSecret r = secret.redacted();
    rapidjson::Value s(rapidjson::kObjectType);
    s.AddMember("name", json::str(r.name, a), a);
    s.AddMember("hosts", json::str_array(r.hosts, a), a);
    out.PushBack(s, a);
  }
  return out;
}

rapidjson::Value plugins_object(const PluginOptions& p, Alloc& a) {
  rapidjson::Value out(rapidjson::kObjectType);
  auto add_string = [&](const char* key, const std::string& value) {
    if (!value.empty()) out.AddMember(rapidjson::StringRef(key), json::str(value, a), a);
  };
  add_string("local_model_backend", p.local_model_backend);
  if (!p.model_routes.empty()) {
    rapidjson::Value routes(rapidjson::kArrayType);
    for (const auto& r : p.model_routes) {
      std::string text = r.source_host + "/" + r.source_model + "=" + r.target_model;
      if (!r.backend_host.empty())
        text += "@" + r.backend_host + ":" + std::to_string(r.backend_port);
      routes.PushBack(json::str(text, a), a);
    }
    out.AddMember("local_model_routes", routes, a);
  }
  add_string("usage_log_path", p.usage_log_path);
  if (p.budget_limit_usd) out.AddMember("budget_limit_usd", *p.budget_limit_usd, a);
  add_string("plugin_config", p.plugin_config_path);
  add_string("callback_socket", p.callback_socket);
  if (!p.interception_rules_json.empty()) out.AddMember("interception_rules", true, a);
  add_string("event_log", p.event_log_path);
  add_string("agent_system", p.agent_system);
  add_string("run_id", p.run_id);
  return out;
}

rapidjson::Value network_object(const SandboxOptions& o, Alloc& a) {
  rapidjson::Value net(rapidjson::kObjectType);
  const char* mode = o.no_network ? "none" : (wants_interception(o) ? "interception" : "nat");
  net.AddMember("mode", rapidjson::StringRef(mode), a);
  if (o.no_network) return net;
  net.AddMember("allowed_hosts", json::str_array(o.allowed_hosts, a), a);
  net.AddMember("allow_private_hosts", json::str_array(o.allow_private_hosts, a), a);
  rapidjson::Value hosts(rapidjson::kArrayType);
  for (const auto& [name, ip] : o.add_hosts) hosts.PushBack(json::str(name + ":" + ip, a), a);
  net.AddMember("add_hosts", hosts, a);
  net.AddMember("dns_servers", json::str_array(o.dns_servers, a), a);
  net.AddMember("mtu", o.mtu, a);
  net.AddMember("block_private_ips", o.block_private_ips, a);
  if (!o.secrets.empty()) net.AddMember("secrets", secrets_array(o, a), a);
  if (o.plugins.any()) net.AddMember("plugins", plugins_object(o.plugins, a), a);
  return net;
}

// Mounts and hook rule names; host paths are the user's own and not secret.
rapidjson::Value vfs_object(const VfsOptions& v, Alloc& a) {
  rapidjson::Value out(rapidjson::kObjectType);
  out.AddMember("workspace", json::str(v.workspace, a), a);
  rapidjson::Value mounts(rapidjson::kArrayType);
  for (const auto& m : v.mounts) {
    rapidjson::Value e(rapidjson::kObjectType);
    e.AddMember("guest_path", json::str(m.guest_path, a), a);
    if (!m.host_path.empty()) e.AddMember("host_path", json::str(m.host_path, a), a);
    e.AddMember("mode", rapidjson::StringRef(mount_mode_name(m.mode)), a);
    mounts.PushBack(e, a);
  }
  out.AddMember("mounts", mounts, a);
  if (!v.hooks.empty()) {
    out.AddMember("hook_rules", static_cast<uint64_t>(v.hooks.rules.size()), a);
    out.AddMember("emit_events", v.hooks.emit_events, a);
  }
  return out;
}

// Extra disks by host image: `volume rm` and the boot's in-use check read these back.
rapidjson::Value disks_array(const std::vector<DiskSpec>& disks, Alloc& a) {
  rapidjson::Value out(rapidjson::kArrayType);
  for (const auto& d : disks) {
    rapidjson::Value e(rapidjson::kObjectType);
    e.AddMember("host_path", json::str(d.host_path, a), a);
    e.AddMember("guest_path", json::str(d.guest_path, a), a);
    e.AddMember("readonly", d.readonly, a);
    if (!d.volume.empty()) e.AddMember("volume", json::str(d.volume, a), a);
    out.PushBack(e, a);
  }
  return out;
}

}  // namespace

std::string options_record_json(const SandboxOptions& o) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  d.AddMember("image", json::str(o.image, a), a);
  d.AddMember("hostname", json::str(o.hostname, a), a);
  rapidjson::Value res(rapidjson::kObjectType);
  res.AddMember("cpus", o.cpus, a);
  res.AddMember("memory_mb", o.memory_mib, a);
  res.AddMember("disk_size_mb", o.disk_size_mib, a);
  d.AddMember("resources", res, a);
  d.AddMember("env", env_object(o.env, a), a);
  if (o.user) d.AddMember("user", json::str(*o.user, a), a);
  if (o.workdir) d.AddMember("working_dir", json::str(*o.workdir, a), a);
  if (o.entrypoint) d.AddMember("entrypoint", json::str_array(*o.entrypoint, a), a);
  if (o.cmd) d.AddMember("cmd", json::str_array(*o.cmd, a), a);
  d.AddMember("privileged", o.privileged, a);
  d.AddMember("network", network_object(o, a), a);
  d.AddMember("keep_after_close", o.keep_after_close, a);
  rapidjson::Value ports(rapidjson::kArrayType);
  for (const auto& rule : o.port_forwards) {
    rapidjson::Value p(rapidjson::kObjectType);
    p.AddMember("address", json::str(rule.address, a), a);
    p.AddMember("host_port", rule.host_port, a);
    p.AddMember("guest_port", rule.guest_port, a);
    ports.PushBack(p, a);
  }
  d.AddMember("ports", ports, a);
  d.AddMember("vfs", vfs_object(o.vfs, a), a);
  d.AddMember("disks", disks_array(o.disks, a), a);
  return json::to_string(d);
}

}  // namespace matchlock::sandbox
