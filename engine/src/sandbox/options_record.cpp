#include "sandbox/options_record.h"

#include "core/json.h"

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

rapidjson::Value network_object(const SandboxOptions& o, Alloc& a) {
  rapidjson::Value net(rapidjson::kObjectType);
  const char* mode = o.no_network ? "none" : (o.allowed_hosts.empty() ? "nat" : "interception");
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
  return net;
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
  return json::to_string(d);
}

}  // namespace matchlock::sandbox
