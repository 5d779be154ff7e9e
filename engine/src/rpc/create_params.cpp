#include "rpc/create_params.h"

#include <arpa/inet.h>
#include <uv.h>

#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/value_parsers.h"
#include "rpc/vfs_params.h"
#include "sandbox/disk_spec.h"
#include "sandbox/network_policy.h"
#include "sandbox/secret_spec.h"

namespace matchlock::rpc {
namespace {

using rapidjson::Value;

// Same limits as the `run` flags; the original engine accepted anything.
constexpr int64_t kMinMemoryMib = 64;
constexpr int64_t kMaxMemoryMib = 64 * 1024;
constexpr int64_t kMinDiskMib = 64;
constexpr int64_t kMaxDiskMib = 1024 * 1024;

Error invalid(const std::string& field, const std::string& why) {
  return invalid_argument("invalid " + field + ": " + why);
}

std::string as_string(const Value& v) {
  return std::string(v.GetString(), v.GetStringLength());
}

const Value* member(const Value& obj, const char* name) {
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

Result<bool> get_bool(const Value& obj, const char* name, const std::string& field) {
  const Value* v = member(obj, name);
  if (!v) return false;
  if (!v->IsBool()) return invalid(field, "must be a boolean");
  return v->GetBool();
}

Result<std::string> get_string(const Value& obj, const char* name, const std::string& field) {
  const Value* v = member(obj, name);
  if (!v) return std::string();
  if (!v->IsString()) return invalid(field, "must be a string");
  return as_string(*v);
}

// 0 or absent: keep the default (the SDKs send 0 for "unset").
Result<int64_t> get_size(const Value& obj, const char* name, const std::string& field, int64_t min,
                         int64_t max) {
  const Value* v = member(obj, name);
  if (!v) return int64_t{0};
  if (!v->IsInt64()) return invalid(field, "must be an integer");
  int64_t n = v->GetInt64();
  if (n == 0) return n;
  if (n < min || n > max) {
    return invalid(field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return n;
}

Result<std::optional<std::vector<std::string>>> get_string_array(const Value& obj, const char* name,
                                                                 const std::string& field) {
  const Value* v = member(obj, name);
  if (!v) return std::optional<std::vector<std::string>>();
  if (!v->IsArray()) return invalid(field, "must be an array of strings");
  std::vector<std::string> out;
  for (const auto& e : v->GetArray()) {
    if (!e.IsString()) return invalid(field, "must be an array of strings");
    std::string s = as_string(e);
    if (s.find('\0') != std::string::npos) return invalid(field, "must not contain NUL bytes");
    out.push_back(std::move(s));
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

// An env map {"K":"V"} → "K=V" entries appended to `out`.
Status append_env_map(const Value& obj, const char* name, const std::string& field,
                      std::vector<std::string>& out) {
  const Value* v = member(obj, name);
  if (!v) return {};
  if (!v->IsObject()) return invalid(field, "must be an object of strings");
  for (const auto& m : v->GetObject()) {
    std::string key = as_string(m.name);
    if (key.empty() || key.find('=') != std::string::npos || key.find('\0') != std::string::npos) {
      return invalid(field, "bad variable name \"" + key + "\"");
    }
    if (!m.value.IsString()) return invalid(field + "." + key, "must be a string");
    std::string val = as_string(m.value);
    if (val.find('\0') != std::string::npos) {
      return invalid(field + "." + key, "must not contain NUL bytes");
    }
    out.push_back(key + "=" + val);
  }
  return {};
}

// The shared validators name the CLI flag; rpc errors name the config field instead.
Error rename_field(const Error& e, const std::string& flag, const std::string& field) {
  std::string m = e.message;
  if (auto pos = m.find(flag); pos != std::string::npos) m.replace(pos, flag.size(), field);
  return invalid_argument(m);
}

bool valid_ip(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

bool non_empty(const Value* v) {
  if (!v) return false;
  if (v->IsArray()) return !v->Empty();
  if (v->IsObject()) return v->MemberCount() > 0;
  if (v->IsBool()) return v->GetBool();
  if (v->IsString()) return v->GetStringLength() > 0;
  return true;
}

Status parse_resources(const Value& params, sandbox::SandboxOptions& o) {
  const Value* r = member(params, "resources");
  if (!r) return {};
  if (!r->IsObject()) return invalid("resources", "must be an object");
  if (const Value* c = member(*r, "cpus")) {
    if (!c->IsNumber()) return invalid("resources.cpus", "must be a number");
    double cpus = c->GetDouble();
    if (!std::isfinite(cpus) || cpus < 0)
      return invalid("resources.cpus", "must be greater than 0");
    // vCPUs = ceil(cpus); more than the host has only slows the guest down (as for --cpus).
    double host = static_cast<double>(uv_available_parallelism());
    if (std::ceil(cpus) > host) {
      return invalid("resources.cpus", "exceeds the " + std::to_string(int(host)) + " host CPUs");
    }
    if (cpus > 0) o.cpus = cpus;
  }
  auto mem = get_size(*r, "memory_mb", "resources.memory_mb", kMinMemoryMib, kMaxMemoryMib);
  if (!mem.ok()) return mem.error();
  if (*mem > 0) o.memory_mib = static_cast<uint64_t>(*mem);
  auto disk = get_size(*r, "disk_size_mb", "resources.disk_size_mb", kMinDiskMib, kMaxDiskMib);
  if (!disk.ok()) return disk.error();
  if (*disk > 0) o.disk_size_mib = static_cast<uint64_t>(*disk);
  // Accepted for compatibility; like the original it is not enforced.
  auto timeout = get_size(*r, "timeout_seconds", "resources.timeout_seconds", 0, INT32_MAX);
  if (!timeout.ok()) return timeout.error();
  return {};
}

Status parse_image_config(const Value& params, sandbox::SandboxOptions& o) {
  const Value* ic = member(params, "image_config");
  if (!ic) return {};
  if (!ic->IsObject()) return invalid("image_config", "must be an object");
  auto user = get_string(*ic, "user", "image_config.user");
  if (!user.ok()) return user.error();
  if (!user->empty()) {
    if (auto st = validate_user_spec(*user); !st.ok()) {
      return rename_field(st.error(), "--user", "image_config.user");
    }
    o.user = *user;
  }
  auto wd = get_string(*ic, "working_dir", "image_config.working_dir");
  if (!wd.ok()) return wd.error();
  if (!wd->empty()) {
    MATCHLOCK_TRY(validate_absolute_guest_path(*wd, "image_config.working_dir"));
    o.workdir = *wd;
  }
  auto ep = get_string_array(*ic, "entrypoint", "image_config.entrypoint");
  if (!ep.ok()) return ep.error();
  if (*ep) o.entrypoint = **ep;
  auto cmd = get_string_array(*ic, "cmd", "image_config.cmd");
  if (!cmd.ok()) return cmd.error();
  if (*cmd) o.cmd = **cmd;
  // Layered between the image ENV and create `env` (the original replaced the image ENV).
  return append_env_map(*ic, "env", "image_config.env", o.env);
}

// network.interception {callback_socket, rules}: the rules are kept as JSON text for the
// plugin that runs them (which validates them); here they need only be an array.
Status parse_interception(const Value& network, sandbox::SandboxOptions& o) {
  const Value* i = member(network, "interception");
  if (!i) return {};
  if (!i->IsObject()) return invalid("network.interception", "must be an object");
  auto socket = get_string(*i, "callback_socket", "network.interception.callback_socket");
  if (!socket.ok()) return socket.error();
  if (socket->find('\0') != std::string::npos)
    return invalid("network.interception.callback_socket", "must not contain NUL bytes");
  o.plugins.callback_socket = *socket;
  if (const Value* rules = member(*i, "rules")) {
    if (!rules->IsArray()) return invalid("network.interception.rules", "must be an array");
    o.plugins.interception_rules_json = json::to_string(*rules);
  }
  // Present at all, the object asks for interception (as the SDKs' `intercept: true` does).
  o.force_interception = true;
  return {};
}

// One network.secrets entry {value, hosts, placeholder?}. Errors name the secret, never the
// value. An empty or absent hosts list binds every host ("*"), as the SDKs mean it.
Result<sandbox::Secret> parse_secret(const std::string& name, const Value& spec) {
  std::string field = "network.secrets." + name;
  if (!spec.IsObject()) return invalid(field, "must be an object {value, hosts, placeholder}");
  sandbox::Secret secret;
  secret.name = name;
  const Value* value = member(spec, "value");
  if (!value || !value->IsString()) return invalid(field + ".value", "must be a string");
  secret.value = as_string(*value);
  if (secret.value.empty()) return invalid(field + ".value", "must not be empty");
  if (secret.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
    return invalid(field + ".value", "must not contain a line break or NUL character");
  auto hosts = get_string_array(spec, "hosts", field + ".hosts");
  if (!hosts.ok()) return hosts.error();
  if (*hosts) secret.hosts = **hosts;
  if (secret.hosts.empty()) secret.hosts.push_back("*");
  for (const auto& h : secret.hosts) {
    if (auto st = sandbox::validate_allowed_host(h); !st.ok())
      return invalid(field + ".hosts", "\"" + h + "\" is not a host pattern");
  }
  auto placeholder = get_string(spec, "placeholder", field + ".placeholder");
  if (!placeholder.ok()) return placeholder.error();
  if (placeholder->empty()) {
    auto fresh = sandbox::make_secret_placeholder();
    if (!fresh.ok()) return fresh.error().with_context(field);
    secret.placeholder = std::move(*fresh);
  } else if (!sandbox::is_secret_placeholder(*placeholder)) {
    // Only the engine's own form: a free-form one could match ordinary request text.
    return invalid(field + ".placeholder", "must be SANDBOX_SECRET_ and 32 lowercase hex digits");
  } else {
    secret.placeholder = *placeholder;
  }
  return secret;
}

Status parse_secrets(const Value& network, sandbox::SandboxOptions& o) {
  const Value* secrets = member(network, "secrets");
  if (!secrets) return {};
  if (!secrets->IsObject()) return invalid("network.secrets", "must be an object");
  std::set<std::string> names, placeholders;
  for (const auto& m : secrets->GetObject()) {
    std::string name = as_string(m.name);
    if (!sandbox::is_secret_name(name)) {
      return invalid("network.secrets", "\"" + name + "\" is not an environment variable name");
    }
    if (!names.insert(name).second) return invalid("network.secrets." + name, "is given twice");
    auto secret = parse_secret(name, m.value);
    if (!secret.ok()) return secret.error();
    if (!placeholders.insert(secret->placeholder).second)
      return invalid("network.secrets." + name + ".placeholder", "is used by another secret");
    o.secrets.push_back(std::move(*secret));
  }
  return {};
}

Status parse_network(const Value& params, sandbox::SandboxOptions& o) {
  const Value* n = member(params, "network");
  if (!n) return {};
  if (!n->IsObject()) return invalid("network", "must be an object");
  auto no_network = get_bool(*n, "no_network", "network.no_network");
  if (!no_network.ok()) return no_network.error();
  o.no_network = *no_network;
  if (o.no_network) {
    for (const char* f : {"allowed_hosts", "secrets", "intercept", "interception"}) {
      if (non_empty(member(*n, f))) {
        return invalid_argument(
            std::string(
                "invalid configuration: network.no_network cannot be combined with network.") +
            f);
      }
    }
  }
  auto intercept = get_bool(*n, "intercept", "network.intercept");
  if (!intercept.ok()) return intercept.error();
  o.force_interception = *intercept;
  MATCHLOCK_TRY(parse_interception(*n, o));
  MATCHLOCK_TRY(parse_secrets(*n, o));
  auto hostname = get_string(*n, "hostname", "network.hostname");
  if (!hostname.ok()) return hostname.error();
  if (!hostname->empty()) {
    if (auto st = validate_hostname(*hostname); !st.ok()) {
      return rename_field(st.error(), "--hostname", "network.hostname");
    }
    o.hostname = *hostname;
  }
  auto dns = get_string_array(*n, "dns_servers", "network.dns_servers");
  if (!dns.ok()) return dns.error();
  if (*dns && !(*dns)->empty()) {
    for (const auto& s : **dns) {
      if (!valid_ip(s)) return invalid("network.dns_servers", "\"" + s + "\" is not an IP address");
    }
    o.dns_servers = **dns;
  }
  if (const Value* mtu = member(*n, "mtu")) {
    if (!mtu->IsInt64() || mtu->GetInt64() < 0 || mtu->GetInt64() > 65520 ||
        (mtu->GetInt64() > 0 && mtu->GetInt64() < 576)) {
      return invalid("network.mtu", "must be 0 (default 1500) or an integer between 576 and 65520");
    }
    if (mtu->GetInt64() > 0) o.mtu = static_cast<int>(mtu->GetInt64());
  }
  // A network object replaces the defaults wholesale: blocking is on only when asked for.
  o.block_private_ips = false;
  if (const Value* b = member(*n, "block_private_ips")) {
    if (!b->IsBool()) return invalid("network.block_private_ips", "must be a boolean");
    o.block_private_ips = b->GetBool();
  }
  auto allowed = get_string_array(*n, "allowed_hosts", "network.allowed_hosts");
  if (!allowed.ok()) return allowed.error();
  if (*allowed) {
    for (const auto& h : **allowed) {
      if (h.empty() || h.find_first_of(" \t/") != std::string::npos)
        return invalid("network.allowed_hosts", "\"" + h + "\" is not a host pattern");
      o.allowed_hosts.push_back(h);
    }
  }
  if (const Value* ah = member(*n, "add_hosts"); ah && !ah->IsNull()) {
    if (!ah->IsArray()) return invalid("network.add_hosts", "must be an array");
    for (const auto& e : ah->GetArray()) {
      const Value* host = e.IsObject() ? member(e, "host") : nullptr;
      const Value* ip = e.IsObject() ? member(e, "ip") : nullptr;
      if (!host || !ip || !host->IsString() || !ip->IsString() || host->GetStringLength() == 0 ||
          std::string(host->GetString()).find_first_of(" \t\n:#") != std::string::npos ||
          !valid_ip(ip->GetString()))
        return invalid("network.add_hosts", "invalid add-host mapping");
      o.add_hosts.emplace_back(host->GetString(), ip->GetString());
    }
  }
  return {};
}

Status parse_vfs(const Value& params, sandbox::SandboxOptions& o) {
  const Value* v = member(params, "vfs");
  if (!v) return {};
  auto vfs = parse_vfs_params(*v);
  if (!vfs.ok()) return vfs.error();
  o.vfs = std::move(*vfs);
  return {};
}

// extra_disks: [{host_path, guest_mount, readonly}], after vfs (the workspace must be known).
// host_path is absolute (an rpc server has no meaningful working directory) or @NAME.
Status parse_extra_disks(const Value& params, sandbox::SandboxOptions& o) {
  const Value* disks = member(params, "extra_disks");
  if (!disks) return {};
  if (!disks->IsArray()) return invalid("extra_disks", "must be an array");
  const auto entries = disks->GetArray();
  for (rapidjson::SizeType i = 0; i < entries.Size(); ++i) {
    const std::string field = "extra_disks[" + std::to_string(i) + "]";
    const Value& e = entries[i];
    if (!e.IsObject()) return invalid(field, "must be an object");
    auto host = get_string(e, "host_path", field + ".host_path");
    if (!host.ok()) return host.error();
    auto guest = get_string(e, "guest_mount", field + ".guest_mount");
    if (!guest.ok()) return guest.error();
    auto readonly = get_bool(e, "readonly", field + ".readonly");
    if (!readonly.ok()) return readonly.error();
    sandbox::DiskSpec disk;
    disk.readonly = *readonly;
    if (host->empty() || (host->front() != '/' && host->front() != '@')) {
      return invalid(field + ".host_path", "must be an absolute path or @NAME of a volume");
    }
    auto guest_path = sandbox::parse_disk_guest_path(*guest);
    if (!guest_path.ok()) return invalid(field + ".guest_mount", guest_path.error().message);
    disk.guest_path = *guest_path;
    if (auto st = sandbox::resolve_disk_host(*host, "/", disk.readonly, disk); !st.ok()) {
      return invalid(field + ".host_path", st.error().message);
    }
    o.disks.push_back(std::move(disk));
  }
  if (auto conflict = sandbox::find_disk_conflict(o.disks, o.vfs.workspace)) {
    return invalid("extra_disks[" + std::to_string(conflict->index) + "]." +
                       (conflict->guest_side ? "guest_mount" : "host_path"),
                   conflict->why);
  }
  return {};
}

}  // namespace

Result<CreateRequest> parse_create_params(const rapidjson::Value* params) {
  static const Value kEmpty(rapidjson::kObjectType);
  const Value& p = params ? *params : kEmpty;
  if (!p.IsObject()) return invalid_argument("invalid params: must be an object");

  CreateRequest req;
  auto& o = req.options;
  auto image = get_string(p, "image", "image");
  if (!image.ok()) return image.error();
  if (image->empty()) return invalid_argument("image is required (e.g., alpine:latest)");
  o.image = *image;
  if (const Value* id = member(p, "id"); id && !(id->IsString() && id->GetStringLength() == 0)) {
    return invalid_argument("id is internal-only and cannot be set");
  }

  auto privileged = get_bool(p, "privileged", "privileged");
  if (!privileged.ok()) return privileged.error();
  o.privileged = *privileged;
  auto cold = get_bool(p, "cold", "cold");
  if (!cold.ok()) return cold.error();
  o.cold_boot = *cold;
  auto launch = get_bool(p, "launch_entrypoint", "launch_entrypoint");
  if (!launch.ok()) return launch.error();
  req.launch_entrypoint = *launch;

  MATCHLOCK_TRY(parse_resources(p, o));
  MATCHLOCK_TRY(parse_image_config(p, o));
  MATCHLOCK_TRY(append_env_map(p, "env", "env", o.env));
  MATCHLOCK_TRY(parse_network(p, o));
  MATCHLOCK_TRY(parse_vfs(p, o));
  MATCHLOCK_TRY(parse_extra_disks(p, o));
  return req;
}

}  // namespace matchlock::rpc
