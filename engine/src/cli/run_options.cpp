#include "cli/run_options.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/value_parsers.h"
#include "image/image_store.h"
#include "sandbox/disk_spec.h"
#include "sandbox/mount_spec.h"
#include "sandbox/network_policy.h"
#include "sandbox/plugin_options.h"
#include "sandbox/secret_spec.h"

namespace matchlock::cli {
namespace {

// The guest cannot hold more than the host has; 64 GiB caps typos like --memory 5120G.
constexpr uint64_t kMinMemoryMib = 64;
constexpr uint64_t kMaxMemoryMib = 64 * 1024;
constexpr uint64_t kMinDiskMib = 64;
constexpr uint64_t kMaxDiskMib = 1024 * 1024;
// A grace period is capped (as --timeout is by the host) so its milliseconds cannot wrap
// around into a short wait: anything longer than this is "wait as long as it takes".
constexpr uint64_t kMaxGracefulSeconds = 100ull * 365 * 24 * 3600;

// A regular file only: a directory "reads" as empty on Linux, which would hide the mistake.
Result<std::string> read_file(const std::string& path, const std::string& flag) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return invalid_argument(flag + " " + path + ": not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid_argument(flag + " " + path + ": cannot read the file");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> split_commas(const std::vector<std::string>& values) {
  std::vector<std::string> out;
  for (const auto& v : values) {
    std::stringstream ss(v);
    for (std::string one; std::getline(ss, one, ',');)
      if (!one.empty()) out.push_back(one);
  }
  return out;
}

bool is_ip(const std::string& s) {
  unsigned char addr[16];
  return inet_pton(AF_INET, s.c_str(), addr) == 1 || inet_pton(AF_INET6, s.c_str(), addr) == 1;
}

// --allow-host, --add-host, --mtu, --allow-private-host and their conflicts with --no-network.
Status parse_network_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  o.allowed_hosts = split_commas(a.values("allow-host"));
  for (const auto& h : o.allowed_hosts) {
    if (auto st = sandbox::validate_allowed_host(h); !st.ok())
      return st.error().with_context("invalid --allow-host \"" + h + "\"");
  }
  for (const auto& ip : split_commas(a.values("allow-private-host"))) {
    if (auto st = sandbox::validate_private_host(ip); !st.ok()) return st.error();
    o.allow_private_hosts.push_back(ip);
  }
  for (const auto& m : a.values("add-host")) {
    // host:ip; the IP may be IPv6, so split at the first colon.
    auto colon = m.find(':');
    std::string host = colon == std::string::npos ? "" : m.substr(0, colon);
    std::string ip = colon == std::string::npos ? "" : m.substr(colon + 1);
    bool host_ok = !host.empty() && host.find_first_of(" \t\n#") == std::string::npos;
    if (!host_ok || !is_ip(ip)) return invalid_argument("invalid add-host mapping \"" + m + "\"");
    o.add_hosts.emplace_back(host, ip);
  }
  if (auto v = a.value("mtu")) {
    char* end = nullptr;
    long n = std::strtol(v->c_str(), &end, 10);
    if (v->empty() || *end != 0 || n < 576 || n > 65520)
      return invalid_argument("invalid --mtu \"" + *v + "\": expected 576..65520");
    o.mtu = static_cast<int>(n);
  }
  if (o.no_network) {
    for (const char* flag :
         {"allow-host", "allow-private-host", "secret", "local-model-route", "local-model-backend",
          "usage-log-path", "budget-limit-usd", "plugin-config", "event-log", "agent-system",
          "run-id", "network-intercept"}) {
      if (a.is_set(flag) || !a.values(flag).empty())
        return invalid_argument(std::string("--no-network cannot be combined with --") + flag);
    }
  }
  o.force_interception = a.is_set("network-intercept");
  return {};
}

// A host path flag's value: non-empty, made absolute (the owner process may outlive the shell's
// working directory).
Result<std::string> host_path(const std::string& value, const char* flag) {
  if (value.empty()) return invalid_argument(std::string("--") + flag + ": empty path");
  std::error_code ec;
  auto path = std::filesystem::absolute(value, ec);
  if (ec) return invalid_argument(std::string("--") + flag + " " + value + ": " + ec.message());
  return path.string();
}

// --secret: parsed (values from the host env for NAME@HOSTS) into the options. The errors of
// parse_secret_specs name the flag and the secret, never the value.
Status parse_secret_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  auto secrets = sandbox::parse_secret_specs(a.values("secret"), sandbox::process_environment());
  if (!secrets.ok()) return secrets.error();
  o.secrets = std::move(*secrets);
  return {};
}

// The interception plugins' flags (--local-model-*, --usage-log-path, --budget-limit-usd,
// --plugin-config, --event-log, --agent-system, --run-id).
Status parse_plugin_flags(const ParsedArgs& a, sandbox::PluginOptions& p) {
  if (auto v = a.value("local-model-backend")) {
    auto backend = sandbox::parse_model_backend_spec(*v);
    if (!backend.ok()) return backend.error();
    p.local_model_backend = *v;
  }
  for (const auto& spec : a.values("local-model-route")) {
    auto route = sandbox::parse_model_route_spec(spec);
    if (!route.ok()) return route.error();
    p.model_routes.push_back(std::move(*route));
  }
  if (auto v = a.value("usage-log-path")) {
    auto path = host_path(*v, "usage-log-path");
    if (!path.ok()) return path.error();
    p.usage_log_path = *path;
  }
  if (auto v = a.value("budget-limit-usd")) {
    auto usd = sandbox::parse_budget_usd(*v, "--budget-limit-usd");
    if (!usd.ok()) return usd.error();
    p.budget_limit_usd = *usd;
  }
  if (auto v = a.value("plugin-config")) {
    auto text = read_file(*v, "--plugin-config");  // readable now, parsed with the plugins
    if (!text.ok()) return text.error();
    auto path = host_path(*v, "plugin-config");
    if (!path.ok()) return path.error();
    p.plugin_config_path = *path;
  }
  if (auto v = a.value("event-log")) {
    auto path = host_path(*v, "event-log");
    if (!path.ok()) return path.error();
    p.event_log_path = *path;
  }
  if (auto v = a.value("agent-system")) {
    MATCHLOCK_TRY(sandbox::validate_label(*v, "--agent-system"));
    p.agent_system = *v;
  }
  if (auto v = a.value("run-id")) {
    MATCHLOCK_TRY(sandbox::validate_label(*v, "--run-id"));
    p.run_id = *v;
  }
  return sandbox::validate_plugin_options(p);
}

// -p/--publish and --address into the listeners the sandbox binds before it boots.
// -v / --workspace: relative host paths from the shell's directory (a detached owner outlives
// it, so they are made absolute now).
Status parse_vfs_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  std::error_code ec;
  const std::string cwd = std::filesystem::current_path(ec).string();
  if (ec) return invalid_argument("cannot read the current directory: " + ec.message());
  auto vfs = sandbox::parse_cli_vfs(a.values("volume"), a.value("workspace").value_or(""), cwd);
  if (!vfs.ok()) return vfs.error();
  o.vfs = std::move(*vfs);
  return {};
}

// --disk, after the VFS flags: a disk must not sit at or beneath the workspace.
Status parse_disk_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  std::error_code ec;
  const std::string cwd = std::filesystem::current_path(ec).string();
  if (ec) return invalid_argument("cannot read the current directory: " + ec.message());
  const auto values = a.values("disk");
  for (const auto& v : values) {
    auto disk = sandbox::parse_disk_flag(v, cwd);
    if (!disk.ok()) return disk.error();
    o.disks.push_back(std::move(*disk));
  }
  if (auto conflict = sandbox::find_disk_conflict(o.disks, o.vfs.workspace)) {
    return invalid_argument("invalid --disk \"" + values[conflict->index] + "\": " + conflict->why);
  }
  return {};
}

Status parse_publish_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  std::vector<std::string> addresses;
  for (const auto& v : a.values("address")) {
    auto addr = sandbox::parse_listen_address(v);
    if (!addr.ok()) return addr.error().with_context("invalid --address");
    addresses.push_back(*addr);
  }
  std::vector<sandbox::PortForwardSpec> specs;
  for (const auto& v : a.values("publish")) {
    auto spec = sandbox::parse_port_forward_spec(v);
    if (!spec.ok()) return spec.error().with_context("invalid --publish");
    specs.push_back(*spec);
  }
  if (!addresses.empty() && specs.empty())
    return invalid_argument("--address needs at least one -p/--publish");
  o.port_forwards = sandbox::port_forward_rules(specs, addresses);
  return {};
}

}  // namespace

ArgParser run_arg_parser() {
  ArgParser p("matchlock run [flags] [--] [COMMAND [ARG...]]",
              "Boot a sandbox from an image and run a command in it. The exit code is the "
              "command's.");
  p.add_value("image", 0, "REF", "image to boot (required), e.g. matchlock/busybox:latest")
      .add_bool("interactive", 'i', "keep stdin open and stream it to the command")
      .add_bool("tty", 't', "allocate a terminal for the command")
      .add_bool("detach", 'd',
                "run in the background: print the sandbox id and keep it until `matchlock kill`")
      .add_repeated("env", 'e', "KEY=VALUE",
                    "set an environment variable (KEY alone: from the host)")
      .add_repeated("env-file", 0, "FILE", "read KEY=VALUE lines from a file")
      .add_value("workdir", 'w', "DIR",
                 "working directory (default: image WORKDIR, else /workspace if present, else /)")
      .add_value("user", 'u', "USER",
                 "user: name, uid, uid:gid or name:group (default: image USER)")
      .add_value("entrypoint", 0, "CMD", "override the image ENTRYPOINT (\"\" clears it)")
      .add_value("hostname", 0, "NAME", "guest hostname", "the sandbox id")
      .add_value("cpus", 0, "N", "virtual CPUs (fractions round up)", "1")
      .add_value("memory", 0, "SIZE", "guest memory in MiB (or 1G, 512M)", "512")
      .add_value("disk-size", 0, "SIZE", "size of the writable disk in MiB (or 10G)", "5120")
      .add_value("timeout", 0, "DURATION", "stop the sandbox after this long (0 = never)", "0")
      .add_value("graceful-shutdown", 0, "DURATION",
                 "let the guest shut down cleanly for this long before a hard stop", "0")
      .add_bool("privileged", 0, "skip the seccomp filter, capability drop and no_new_privs")
      .add_bool("cold", 0,
                "boot the guest kernel even when a saved guest of this image could be "
                "restored (and save none)")
      .add_bool("rm", 0,
                "remove the sandbox when it stops; --rm=false keeps it running after the "
                "command (until `matchlock kill`) and keeps its record once stopped",
                true)
      .add_bool("no-network", 0, "no network interface at all")
      .add_repeated("dns-servers", 0, "IP", "DNS servers written to the guest's resolv.conf")
      .add_repeated("allow-host", 0, "PATTERN",
                    "allow only these hosts (*, *.example.com, api-*.example.com, name or IP; "
                    "comma lists); turns on interception")
      .add_repeated("add-host", 0, "HOST:IP", "add a line to the guest's /etc/hosts")
      .add_value("mtu", 0, "N", "guest link MTU (up to 65520)", "1500")
      .add_repeated("secret", 0, "NAME=VALUE@HOSTS",
                    "a secret the guest sees only as a placeholder in $NAME, swapped for VALUE "
                    "on requests to HOSTS (comma list; NAME@HOSTS reads VALUE from the host "
                    "env); HOSTS join the allow-list; turns on interception")
      .add_value("local-model-backend", 0, "HOST:PORT",
                 "model server for --local-model-route routes without their own @HOST:PORT")
      .add_repeated("local-model-route", 0, "HOST/MODEL=TARGET[@HOST:PORT]",
                    "send requests for MODEL at HOST to a local model server as TARGET")
      .add_value("usage-log-path", 0, "PATH", "append model API usage (tokens, cost) here")
      .add_value("budget-limit-usd", 0, "N",
                 "refuse model API calls once N US dollars are spent (needs --usage-log-path)")
      .add_value("plugin-config", 0, "PATH", "interception plugin configuration file")
      .add_value("event-log", 0, "PATH", "append the network policy's decisions here (JSON lines)")
      .add_value("agent-system", 0, "NAME", "agent name written on every event-log line")
      .add_value("run-id", 0, "ID", "run id written on every event-log line", "the sandbox id")
      .add_bool("network-intercept", 0,
                "intercept (MITM) the sandbox's HTTP(S) even with no other policy flag: every "
                "host allowed, plugins and the event log see every request")
      .add_repeated("volume", 'v', "HOST:GUEST[:MODE]",
                    "mount a host file or directory at GUEST (relative to the workspace, or "
                    "absolute beneath it); MODE overlay (default: the guest's changes stay in "
                    "the sandbox), host_fs (read-write) or ro")
      .add_value("workspace", 0, "PATH", "guest directory of the file mounts", "/workspace")
      .add_repeated("disk", 0, "HOST:GUEST[:ro]",
                    "attach an ext4 image file (or @NAME, a `matchlock volume`) and mount it at "
                    "the absolute GUEST path; writes go to the file itself; :ro mounts it "
                    "read-only")
      .add_repeated("allow-private-host", 0, "IP",
                    "let interception dial this private address (blocked by default)")
      .add_repeated("publish", 'p', "[ADDR:]HOST:GUEST",
                    "forward a host port to a guest port through the agent (works with "
                    "--no-network; HOST 0 = any free port)")
      .add_repeated("address", 0, "IP",
                    "host address that -p listens on when it names none (default 127.0.0.1)")
      .add_bool("pull", 0, "pull the image even if it is in the local store")
      .add_bool("quiet", 'q', "no pull progress on stderr");
  return p;
}

namespace {

// --cpus, --memory, --disk-size, --timeout, --graceful-shutdown.
Status parse_resource_flags(const ParsedArgs& a, RunOptions& o) {
  int host_cpus = static_cast<int>(std::thread::hardware_concurrency());
  if (host_cpus <= 0) host_cpus = 1;
  if (auto v = a.value("cpus")) {
    auto c = parse_cpus(*v, "--cpus", host_cpus);
    if (!c.ok()) return c.error();
    o.sandbox.cpus = *c;
  }
  if (auto v = a.value("memory")) {
    auto m = parse_size_mib(*v, "--memory", kMinMemoryMib, kMaxMemoryMib);
    if (!m.ok()) return m.error();
    o.sandbox.memory_mib = *m;
  }
  if (auto v = a.value("disk-size")) {
    auto d = parse_size_mib(*v, "--disk-size", kMinDiskMib, kMaxDiskMib);
    if (!d.ok()) return d.error();
    o.sandbox.disk_size_mib = *d;
  }
  if (auto v = a.value("timeout")) {
    auto t = parse_duration_seconds(*v, "--timeout");
    if (!t.ok()) return t.error();
    o.timeout_seconds = *t;
  }
  if (auto v = a.value("graceful-shutdown")) {
    auto t = parse_duration_seconds(*v, "--graceful-shutdown");
    if (!t.ok()) return t.error();
    o.graceful_shutdown_ms = std::min(*t, kMaxGracefulSeconds) * 1000;
  }
  return {};
}

// Environment: files first, then -e flags, later ones winning (docker's precedence).
Status parse_env_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  std::vector<EnvVar> env;
  for (const auto& file : a.values("env-file")) {
    auto text = read_file(file, "--env-file");
    if (!text.ok()) return text.error();
    auto vars = parse_env_file(*text, file, host_env_lookup);
    if (!vars.ok()) return vars.error();
    for (auto& v : *vars) upsert_env(env, std::move(v));
  }
  for (const auto& e : a.values("env")) {
    auto v = parse_env_assignment(e, host_env_lookup);
    if (!v.ok()) return v.error().with_context("-e");
    upsert_env(env, std::move(*v));
  }
  for (auto& [k, v] : env) o.env.push_back(k + "=" + v);
  return {};
}

// --workdir, --user, --hostname, --entrypoint: what the command runs as and where.
Status parse_process_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  if (auto w = a.value("workdir")) {
    MATCHLOCK_TRY(validate_absolute_guest_path(*w, "--workdir"));
    o.workdir = *w;
  }
  if (auto u = a.value("user")) {
    MATCHLOCK_TRY(validate_user_spec(*u));
    o.user = *u;
  }
  if (auto h = a.value("hostname")) {
    auto st = validate_hostname(*h);
    if (!st.ok()) return st.error().with_context("--hostname");
    o.hostname = *h;
  }
  if (a.is_set("entrypoint")) {
    std::string ep = a.value("entrypoint").value_or("");
    o.entrypoint = ep.empty() ? std::vector<std::string>{} : std::vector<std::string>{ep};
  }
  return {};
}

Status parse_dns_flags(const ParsedArgs& a, sandbox::SandboxOptions& o) {
  auto dns = a.values("dns-servers");
  if (dns.empty()) return {};
  o.dns_servers.clear();
  for (const auto& d : dns) {
    std::stringstream ss(d);
    for (std::string one; std::getline(ss, one, ',');) {
      if (one.empty()) continue;
      unsigned char addr[16];
      if (inet_pton(AF_INET, one.c_str(), addr) != 1 &&
          inet_pton(AF_INET6, one.c_str(), addr) != 1) {
        return invalid_argument("invalid --dns-servers \"" + one + "\": expected an IP address");
      }
      o.dns_servers.push_back(one);
    }
  }
  return {};
}

}  // namespace

Result<RunOptions> parse_run_options(Args args, bool stdin_is_tty) {
  auto parsed = run_arg_parser().parse(args);
  if (!parsed.ok()) return parsed.error();
  const ParsedArgs& a = parsed.value();
  RunOptions o;
  o.command = a.positionals;

  auto image = a.value("image");
  if (!image || image->empty()) return invalid_argument("--image is required");
  o.sandbox.image = *image;
  if (auto n = image::normalize_reference(*image); !n.ok())
    return n.error().with_context("--image");
  o.pull = a.flag("pull");
  o.quiet = a.flag("quiet");

  o.interactive = a.flag("interactive");
  o.tty = a.flag("tty");
  if (o.interactive && o.tty && !stdin_is_tty) {
    return invalid_argument("-it needs stdin to be a terminal (use -i alone for pipes)");
  }
  o.detach = a.flag("detach");
  if (o.detach && (o.interactive || o.tty)) {
    return invalid_argument("-d cannot be combined with -i or -t");
  }
  o.remove = a.flag("rm");
  o.sandbox.keep_after_close = !o.remove;
  o.sandbox.privileged = a.flag("privileged");
  o.sandbox.cold_boot = a.flag("cold");
  o.sandbox.no_network = a.flag("no-network");

  // Each part names the first bad flag it meets.
  if (auto st = parse_resource_flags(a, o); !st.ok()) return st.error();
  if (auto st = parse_env_flags(a, o.sandbox); !st.ok()) return st.error();
  if (auto st = parse_process_flags(a, o.sandbox); !st.ok()) return st.error();
  if (auto st = parse_dns_flags(a, o.sandbox); !st.ok()) return st.error();
  if (auto st = parse_network_flags(a, o.sandbox); !st.ok()) return st.error();
  if (auto st = parse_plugin_flags(a, o.sandbox.plugins); !st.ok()) return st.error();
  if (auto st = parse_secret_flags(a, o.sandbox); !st.ok()) return st.error();
  if (auto st = parse_publish_flags(a, o.sandbox); !st.ok()) return st.error();
  if (auto st = parse_vfs_flags(a, o.sandbox); !st.ok()) return st.error();
  if (auto st = parse_disk_flags(a, o.sandbox); !st.ok()) return st.error();
  return o;
}

}  // namespace matchlock::cli
