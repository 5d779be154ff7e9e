#include "config_apply.h"

#include <rapidjson/document.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "ca_trust.h"
#include "fs_util.h"
#include "net_config.h"

namespace matchlock::guest_agent {
namespace {

// The files CONFIG writes in the workload's /etc.
constexpr const char* kHostnameFile = "/etc/hostname";
constexpr const char* kHostsFile = "/etc/hosts";
constexpr const char* kResolvConfFile = "/etc/resolv.conf";

Status write_etc_text(const char* path, const std::string& text) {
  if (!write_file(path, text)) {
    return io_error(std::string("write ") + path + ": " + std::strerror(errno));
  }
  return {};
}

Status apply_hostname(const std::string& hostname) {
  if (::sethostname(hostname.data(), hostname.size()) != 0) {
    return io_error("sethostname: " + std::string(std::strerror(errno)));
  }
  return write_etc_text(kHostnameFile, hostname + "\n");
}

// eth0 address, route and MTU come from CONFIG.network (absent: no NIC attached).
Status apply_network(const rapidjson::Value& network) {
  if (!network.IsObject()) return invalid_argument("config: network is not an object");
  NetSettings n;
  auto str = [&](const char* k, std::string* out) {
    auto it = network.FindMember(k);
    if (it == network.MemberEnd() || !it->value.IsString()) return false;
    *out = it->value.GetString();
    return true;
  };
  auto num = [&](const char* k, int* out) {
    auto it = network.FindMember(k);
    if (it == network.MemberEnd() || !it->value.IsInt()) return false;
    *out = it->value.GetInt();
    return true;
  };
  if (!str("address", &n.address) || !str("gateway", &n.gateway) || !num("prefix", &n.prefix) ||
      !num("mtu", &n.mtu))
    return invalid_argument("config: network needs address, prefix, gateway and mtu");
  return configure_eth0(n);
}

Status write_etc(const char* path, const rapidjson::Value& text) {
  if (!text.IsString())
    return invalid_argument(std::string("config: ") + path + " is not a string");
  return write_etc_text(path, text.GetString());
}

// CONFIG.disks: [{"serial","path","readonly"}], at most kMaxDataDisks.
Result<std::vector<DataDisk>> parse_disks(const rapidjson::Value& value) {
  constexpr size_t kMaxDataDisks = 16;
  if (!value.IsArray() || value.Size() > kMaxDataDisks) {
    return invalid_argument("config: disks is not an array of at most 16 disks");
  }
  std::vector<DataDisk> disks;
  for (const auto& e : value.GetArray()) {
    if (!e.IsObject()) return invalid_argument("config: a disk is not an object");
    auto serial = e.FindMember("serial");
    auto path = e.FindMember("path");
    auto readonly = e.FindMember("readonly");
    if (serial == e.MemberEnd() || !serial->value.IsString() || path == e.MemberEnd() ||
        !path->value.IsString() || readonly == e.MemberEnd() || !readonly->value.IsBool()) {
      return invalid_argument("config: a disk needs serial, path and readonly");
    }
    DataDisk disk{std::string(serial->value.GetString(), serial->value.GetStringLength()),
                  std::string(path->value.GetString(), path->value.GetStringLength()),
                  readonly->value.GetBool()};
    MATCHLOCK_TRY(validate_data_disk(disk));
    disks.push_back(std::move(disk));
  }
  return disks;
}

}  // namespace

Status set_clock(int64_t unix_ms) {
  timeval tv{};
  tv.tv_sec = unix_ms / 1000;
  tv.tv_usec = (unix_ms % 1000) * 1000;
  if (::settimeofday(&tv, nullptr) != 0) {
    return io_error("settimeofday: " + std::string(std::strerror(errno)));
  }
  return {};
}

Result<AppliedConfig> apply_config(std::string_view payload, StepClock& clock) {
  rapidjson::Document config;
  config.Parse(payload.data(), payload.size());
  if (config.HasParseError() || !config.IsObject())
    return invalid_argument("config: not a JSON object");
  make_dirs("/etc");  // minimal images may have no /etc at all

  if (auto it = config.FindMember("hostname"); it != config.MemberEnd()) {
    if (!it->value.IsString()) return invalid_argument("config: hostname is not a string");
    MATCHLOCK_TRY(apply_hostname(it->value.GetString()));
  }
  if (auto it = config.FindMember("hosts"); it != config.MemberEnd()) {
    MATCHLOCK_TRY(write_etc(kHostsFile, it->value));
  }
  if (auto it = config.FindMember("resolv_conf"); it != config.MemberEnd() && !it->value.IsNull()) {
    // Images often ship resolv.conf as a symlink into /run: write_file replaces the link, not
    // its target. A regular file is rewritten in place (an unlink first would leave a whiteout
    // on the overlay and make the new file over it, the slowest path overlayfs has).
    MATCHLOCK_TRY(write_etc(kResolvConfFile, it->value));
  }
  clock.mark("hostname, /etc");
  // lo is up and IPv6 off since the boot (net_config.h: prepare_network_devices).
  if (auto it = config.FindMember("network"); it != config.MemberEnd() && !it->value.IsNull()) {
    MATCHLOCK_TRY(apply_network(it->value));
    clock.mark("network");
  }
  AppliedConfig applied;
  // Interception mode: the guest must trust the sandbox CA that signs what it is shown.
  if (auto it = config.FindMember("ca_certificate");
      it != config.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsString()) return invalid_argument("config: ca_certificate is not a string");
    auto trust = install_ca_certificate({it->value.GetString(), it->value.GetStringLength()});
    if (!trust.ok()) return trust.error();
    applied.exec_env_defaults = ca_environment(*trust);
    clock.mark("CA");
  }
  if (auto it = config.FindMember("workspace"); it != config.MemberEnd() && !it->value.IsNull()) {
    if (!it->value.IsString()) return invalid_argument("config: workspace is not a string");
    applied.workspace.assign(it->value.GetString(), it->value.GetStringLength());
  }
  if (auto it = config.FindMember("disks"); it != config.MemberEnd() && !it->value.IsNull()) {
    auto disks = parse_disks(it->value);
    if (!disks.ok()) return disks.error();
    applied.disks = std::move(*disks);
  }
  return applied;
}

}  // namespace matchlock::guest_agent
