#include "sandbox/sandbox.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "core/json.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/unique_fd.h"
#include "sandbox/exec_environment.h"
#include "sandbox/network_policy.h"
#include "vm/accel_probe.h"
#include "vm/bundle.h"
#include "vm/qemu_command.h"

namespace matchlock::sandbox {
namespace {

std::string new_sandbox_id() {
  std::random_device rd;
  std::ostringstream s;
  s << "vm-" << std::hex;
  for (int i = 0; i < 8; ++i) s << (rd() & 0xf);
  return s.str();
}

uint64_t env_ms(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v, &end, 10);
  return (end && *end == 0 && n > 0) ? n : fallback;
}

std::string hosts_file(const std::string& hostname,
                       const std::vector<std::pair<std::string, std::string>>& add_hosts) {
  std::string out = "127.0.0.1\tlocalhost localhost.localdomain " + hostname +
                    "\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\n"
                    "ff02::2\tip6-allrouters\n";
  for (const auto& [name, ip] : add_hosts) out += ip + "\t" + name + "\n";  // --add-host
  return out;
}

std::string resolv_conf(const std::vector<std::string>& servers) {
  std::string out;
  for (const auto& s : servers) out += "nameserver " + s + "\n";
  return out;
}

std::string tail_lines(const std::filesystem::path& file, size_t max_lines) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<int64_t>(in.tellg());
  int64_t start = size > 16384 ? size - 16384 : 0;
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> lines;
  std::istringstream ss(text);
  for (std::string l; std::getline(ss, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    if (!l.empty()) lines.push_back(l);
  }
  std::string out;
  size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = from; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

// State writes after the row exists are bookkeeping: a failure is reported, not fatal.
void warn_if_failed(const Status& st) {
  if (!st.ok()) log::warn(st.error().message);
}

}  // namespace

// Everything the boot sequence needs between its asynchronous steps.
struct Sandbox::Boot {
  std::shared_ptr<Sandbox> sb;
  CreateCallback done;
  vm::GuestBundle bundle;
  std::filesystem::path base_disk;
  std::unique_ptr<uv::Timer> timeout;
  bool guest_ready = false;
  bool qmp_ready = false;
  bool finished = false;
  bool row_created = false;

  void fail(Error e) {
    if (finished) return;
    finished = true;
    if (timeout) timeout->stop();
    if (sb->qemu_ && sb->qemu_->running()) {
      std::string console = sb->console_tail(15);
      if (!console.empty()) e.message += "\n--- guest console (last lines) ---\n" + console;
    }
    sb->guest_.reset();
    sb->qmp_.reset();
    sb->qemu_.reset();  // SIGKILL + reap: no QEMU outlives a failed create
    sb->net_.reset();
    if (row_created) sb->remove_files_and_state();
    auto cb = std::move(done);
    sb.reset();  // callbacks hold this Boot; dropping the sandbox here breaks the cycle
    cb(std::move(e));
  }

  void maybe_ready() {
    if (finished || !guest_ready || !qmp_ready) return;
    finished = true;
    timeout->stop();
    warn_if_failed(sb->state_->set_status(sb->id_, "running"));
    warn_if_failed(sb->state_->append_lifecycle(sb->id_, "running", ""));
    auto cb = std::move(done);
    auto ready = std::move(sb);  // from here callbacks reach the sandbox only through weak refs
    cb(std::move(ready));
  }
};

void Sandbox::create(uv_loop_t* loop, SandboxOptions options, CreateCallback done) {
  auto sb = std::shared_ptr<Sandbox>(new Sandbox(loop));
  sb->id_ = new_sandbox_id();
  sb->options_ = std::move(options);
  if (sb->options_.hostname.empty()) sb->options_.hostname = sb->id_;
  sb->dir_ = sandbox_dir(sb->id_);

  auto boot = std::make_shared<Boot>();
  boot->sb = sb;
  boot->done = std::move(done);

  auto state = state::StateStore::open(matchlock_home());
  if (!state.ok()) return boot->fail(state.error());
  sb->state_ = std::move(state.value());

  // Image lookup and base-disk build may take seconds: off the loop.
  auto image_result = std::make_shared<Result<image::ImageRecord>>(Error());
  auto disk_result = std::make_shared<Result<std::filesystem::path>>(Error());
  std::string ref = sb->options_.image;
  const bool pull_always = sb->options_.pull_always;
  uv::queue_work(
      loop,
      [ref, pull_always, image_result, disk_result] {
        auto store = image::ImageStore::open(images_dir());
        if (!store.ok()) {
          *image_result = store.error();
          return;
        }
        if (!pull_always) *image_result = (*store)->find(ref);
        // Pull on first use (docker's behaviour), or always when asked to.
        if (pull_always ||
            (!image_result->ok() && image_result->error().code == ErrorCode::kNotFound)) {
          auto pulled = (*store)->pull(ref, image::PullOptions{});
          if (pulled.ok()) {
            *image_result = std::move(pulled->image);
          } else {
            *image_result = pulled.error();
          }
        }
        if (image_result->ok()) *disk_result = (*store)->base_disk(image_result->value());
      },
      [boot, image_result, disk_result] {
        if (!image_result->ok()) return boot->fail(image_result->error());
        if (!disk_result->ok()) return boot->fail(disk_result->error());
        auto bundle = vm::locate_bundle();
        if (!bundle.ok()) return boot->fail(bundle.error());
        boot->bundle = bundle.value();
        boot->base_disk = disk_result->value();
        auto& s = *boot->sb;
        s.image_ = image_result->value();

        auto dir = ensure_private_dir(s.dir_);
        if (!dir.ok()) return boot->fail(dir.error());
        state::SandboxRow row;
        row.id = s.id_;
        row.status = "creating";
        row.image = s.image_.name;
        row.owner_pid = ::getpid();
        row.created_unix = static_cast<int64_t>(::time(nullptr));
        auto ins = s.state_->insert_sandbox(row);
        if (!ins.ok()) {
          std::error_code ec;
          std::filesystem::remove_all(s.dir_, ec);
          return boot->fail(ins.error());
        }
        boot->row_created = true;
        warn_if_failed(s.state_->append_lifecycle(s.id_, "creating", s.image_.digest));

        auto upper = std::make_shared<Status>();
        auto path = s.dir_ / "upper.ext4";
        uint64_t size = s.options_.disk_size_mib;
        uv::queue_work(
            s.loop_, [upper, path, size] { *upper = vm::create_upper_disk(path, size); },
            [boot, upper] {
              if (!upper->ok()) return boot->fail(upper->error());
              auto& s = *boot->sb;
              vm::ProbeInputs probe;
              probe.kernel = boot->bundle.kernel;
              probe.initrd = boot->bundle.initrd;
              probe.cache_file = matchlock_home() / "cache" / "accel";
              vm::choose_accelerator(s.loop_, probe, [boot](vm::AccelChoice accel) {
                log::debug("accelerator: " + std::string(vm::accel_name(accel.accel)) + " (" +
                           accel.reason + ")");
                auto& s = *boot->sb;
                int ctl[2], qmp[2];
                if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) != 0 ||
                    ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, qmp) != 0) {
                  return boot->fail(io_error("socketpair failed"));
                }
                UniqueFd ctl_ours(ctl[0]), ctl_theirs(ctl[1]), qmp_ours(qmp[0]), qmp_theirs(qmp[1]);
                // The guest NIC: QEMU's `-netdev stream` on one end, the engine's lwIP on the
                // other.
                UniqueFd net_theirs;
                // MATCHLOCK_UNSAFE_SLIRP_BASELINE=1: bench/net_throughput.py's baseline, the same
                // guest on QEMU's -netdev user. Never for real use: nothing is filtered.
                const char* slirp_env = std::getenv("MATCHLOCK_UNSAFE_SLIRP_BASELINE");
                const bool slirp =
                    !s.options_.no_network && slirp_env && std::string(slirp_env) == "1";
                if (slirp)
                  log::warn("MATCHLOCK_UNSAFE_SLIRP_BASELINE=1: unfiltered QEMU user network");
                if (!s.options_.no_network && !slirp) {
                  auto net = s.start_network();
                  if (!net.ok()) return boot->fail(net.error().with_context("network"));
                  net_theirs = std::move(net.value());
                }

                vm::VmSpec spec;
                spec.accel = accel.accel;
                spec.kernel = boot->bundle.kernel;
                spec.initrd = boot->bundle.initrd;
                spec.vcpus = static_cast<int>(std::ceil(s.options_.cpus));
                spec.memory_mib = s.options_.memory_mib;
                spec.base_disk = boot->base_disk;
                spec.upper_disk = s.dir_ / "upper.ext4";
                spec.console_log = s.dir_ / "console.log";
                spec.host_tsc_khz = vm::host_tsc_khz();
                spec.network = net_theirs.valid();
                spec.slirp_baseline = slirp;
                spec.mtu = s.options_.mtu;
                std::map<int, int> inherit = {{vm::kControlFd, ctl_theirs.get()},
                                              {vm::kQmpFd, qmp_theirs.get()}};
                if (net_theirs.valid()) inherit[vm::kNetFd] = net_theirs.get();
                std::weak_ptr<Sandbox> weak = boot->sb;
                auto proc = vm::QemuProcess::spawn(
                    s.loop_, vm::qemu_argv(spec), inherit, s.dir_ / "qemu.log",
                    [weak, boot](vm::ExitInfo info) {
                      auto sb = weak.lock();
                      if (!sb) return;
                      if (!boot->finished) {
                        std::string qemu_log = tail_lines(sb->dir_ / "qemu.log", 5);
                        std::string console = sb->console_tail(15);
                        sb->vm_exited_ = true;
                        Error e(ErrorCode::kVm, "the VM " + info.describe() + " during boot");
                        if (!qemu_log.empty()) e.message += "\n--- qemu ---\n" + qemu_log;
                        if (!console.empty()) e.message += "--- guest console ---\n" + console;
                        sb->qemu_.reset();
                        return boot->fail(e);
                      }
                      sb->on_vm_exit(info);
                    });
                if (!proc.ok()) return boot->fail(proc.error().with_context("start QEMU"));
                s.qemu_ = std::move(proc.value());
                warn_if_failed(s.state_->set_qemu_pid(s.id_, s.qemu_->pid()));
                ctl_theirs.reset();
                qmp_theirs.reset();
                net_theirs.reset();

                s.guest_ = guest::GuestConnection::create(
                    s.loop_, std::move(ctl_ours), [weak, boot](const Error& e) {
                      auto sb = weak.lock();
                      if (!sb) return;
                      if (!boot->finished) return boot->fail(e);
                      if (sb->closing_) return;  // QEMU going away closes the channel too
                      log::warn("sandbox " + sb->id_ + ": " + e.message);
                      if (sb->on_terminated_) sb->on_terminated_(e);
                    });
                guest::GuestConfig cfg;
                cfg.hostname = s.options_.hostname;
                cfg.hosts_file = hosts_file(s.options_.hostname, s.options_.add_hosts);
                cfg.resolv_conf = resolv_conf(s.options_.dns_servers);
                if (s.net_) {
                  auto a = net::guest_addressing(s.options_.mtu);
                  cfg.network = guest::GuestNetwork{a.address, a.prefix, a.gateway, a.mtu};
                } else if (slirp) {
                  // QEMU's fixed slirp addressing: guest .15, gateway .2, DNS .3 of 10.0.2.0/24.
                  cfg.network = guest::GuestNetwork{"10.0.2.15", 24, "10.0.2.2", s.options_.mtu};
                  cfg.resolv_conf = "nameserver 10.0.2.3\n";
                }
                s.guest_->handshake(cfg, [boot](Status st) {
                  if (!st.ok()) return boot->fail(st.error());
                  boot->guest_ready = true;
                  boot->maybe_ready();
                });
                s.qmp_ = std::make_unique<vm::QmpClient>(
                    s.loop_, std::move(qmp_ours), [boot](Status st) {
                      if (boot->finished) return;
                      if (!st.ok()) return boot->fail(st.error());
                      // QEMU must report the machine running, not paused or in prelaunch.
                      boot->sb->qmp_->execute("query-status", [boot](Result<std::string> r) {
                        if (boot->finished) return;
                        if (!r.ok()) return boot->fail(r.error());
                        rapidjson::Document d;
                        d.Parse(r->c_str(), r->size());
                        const auto* running = json::member(d, "running");
                        if (!running || !running->IsBool() || !running->GetBool()) {
                          return boot->fail(
                              Error(ErrorCode::kVm, "QEMU reports the VM is not running: " +
                                                        json::get_string(d, "status", "unknown")));
                        }
                        boot->qmp_ready = true;
                        boot->maybe_ready();
                      });
                    });
                uint64_t limit = env_ms("MATCHLOCK_BOOT_TIMEOUT_MS",
                                        accel.accel == vm::Accel::kTcg ? 120000 : 30000);
                boot->timeout = std::make_unique<uv::Timer>(s.loop_);
                std::weak_ptr<Boot> weak_boot = boot;  // the timer lives in Boot: no cycle
                boot->timeout->start(limit, [weak_boot, limit] {
                  auto boot = weak_boot.lock();
                  if (!boot) return;
                  boot->fail(Error(ErrorCode::kTimeout, "the guest agent did not answer within " +
                                                            std::to_string(limit / 1000) + " s"));
                });
              });
            });
      });
}

Sandbox::~Sandbox() = default;

Result<UniqueFd> Sandbox::start_network() {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    return io_error("socketpair failed");
  UniqueFd ours(sv[0]), theirs(sv[1]);
  net::NetworkConfig cfg;
  cfg.mtu = options_.mtu;
  cfg.dns_servers = options_.dns_servers;
  auto policy = make_network_policy(options_);
  if (!policy.ok()) return policy.error();
  policy_ = policy.value();
  cfg.policy = policy_;
  std::weak_ptr<Sandbox> weak = weak_from_this();
  auto net =
      net::NetworkStack::start(loop_, std::move(ours), std::move(cfg), [weak](const Error& e) {
        auto sb = weak.lock();
        if (!sb || sb->closing_) return;
        log::warn("sandbox " + sb->id_ + ": network link closed: " + e.message);
      });
  if (!net.ok()) return net.error();
  net_ = std::move(net.value());
  return theirs;
}

std::vector<std::string> Sandbox::compose_command(const std::vector<std::string>& args) const {
  return compose_docker_command(image_.config, options_.entrypoint, options_.cmd, args);
}

std::shared_ptr<guest::ExecHandle> Sandbox::exec(const ExecSpec& spec, guest::ExecEvents events) {
  guest::ExecRequest r;
  r.argv = spec.argv;
  r.env = compose_exec_env(image_.config.env, options_.env, spec.extra_env, options_.hostname,
                           spec.tty);
  r.cwd = spec.workdir.value_or(options_.workdir.value_or(image_.config.working_dir));
  r.user = spec.user.value_or(options_.user.value_or(image_.config.user));
  r.tty = spec.tty;
  r.rows = spec.rows;
  r.cols = spec.cols;
  r.stdin_open = spec.stdin_open;
  r.privileged = options_.privileged;
  if (!guest_ || closing_) {
    auto h = std::make_shared<guest::ExecHandle>();
    if (events.on_error) events.on_error(Error(ErrorCode::kVm, "sandbox is closed"), -1);
    return h;
  }
  return guest_->open_exec(r, std::move(events));
}

void Sandbox::close(uint64_t graceful_ms, std::function<void(Status)> done) {
  if (closed_) {
    if (done) done(Status());
    return;
  }
  if (done) close_waiters_.push_back(std::move(done));
  if (closing_) return;
  closing_ = true;
  if (state_) warn_if_failed(state_->append_lifecycle(id_, "stopping", ""));
  if (!qemu_ || !qemu_->running()) return finish_close(Status());

  close_timer_ = std::make_unique<uv::Timer>(loop_);
  auto hard_stop = [this] {
    // QMP quit ends QEMU in milliseconds; SIGKILL if QMP itself is unresponsive.
    if (qmp_ && qmp_->ready()) qmp_->execute("quit", [](Result<std::string>) {});
    close_timer_->start(2000, [this] {
      if (qemu_) qemu_->kill(SIGKILL);
    });
  };
  if (graceful_ms > 0 && guest_ && guest_->ready()) {
    guest_->shutdown(static_cast<uint32_t>(graceful_ms));
    close_timer_->start(graceful_ms + 1000, hard_stop);
  } else if (graceful_ms > 0 && qmp_ && qmp_->ready()) {
    qmp_->execute("system_powerdown", [](Result<std::string>) {});
    close_timer_->start(graceful_ms, hard_stop);
  } else {
    hard_stop();
  }
}

void Sandbox::on_vm_exit(const vm::ExitInfo& info) {
  vm_exited_ = true;
  if (closing_) return finish_close(Status());
  if (state_) warn_if_failed(state_->set_status(id_, "crashed"));
  if (guest_) guest_->close(Error(ErrorCode::kVm, "the VM " + info.describe()));
  if (on_terminated_) on_terminated_(Error(ErrorCode::kVm, "the VM " + info.describe()));
}

void Sandbox::finish_close(Status st) {
  if (closed_) return;
  closed_ = true;
  if (close_timer_) close_timer_->stop();
  if (guest_) guest_->close(Error(ErrorCode::kCancelled, "sandbox closed"));
  qmp_.reset();
  qemu_.reset();
  net_.reset();
  remove_files_and_state();
  auto waiters = std::move(close_waiters_);
  for (auto& w : waiters) w(st);
}

void Sandbox::remove_files_and_state() {
  std::error_code ec;
  if (options_.keep_after_close) {
    // Keep the record and console log for inspection; the disk goes (it is the bulk).
    std::filesystem::remove(dir_ / "upper.ext4", ec);
    if (state_) {
      warn_if_failed(state_->set_status(id_, "stopped"));
      warn_if_failed(state_->append_lifecycle(id_, "stopped", ""));
    }
    return;
  }
  std::filesystem::remove_all(dir_, ec);
  if (ec) log::warn("remove " + dir_.string() + ": " + ec.message());
  if (state_) warn_if_failed(state_->remove_sandbox(id_));
}

std::string Sandbox::console_tail(size_t max_lines) const {
  return tail_lines(dir_ / "console.log", max_lines);
}

}  // namespace matchlock::sandbox
