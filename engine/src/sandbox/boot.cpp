#include "sandbox/boot.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iterator>
#include <random>
#include <sstream>
#include <string_view>
#include <utility>

#include "core/knobs.h"
#include "core/log.h"
#include "core/paths.h"
#include "core/remove_tree.h"
#include "sandbox/empty_upper_disk.h"
#include "sandbox/file_tail.h"
#include "sandbox/network_policy.h"
#include "sandbox/options_record.h"
#include "sandbox/vfs_mounts.h"
#include "vfs/hook_pipeline.h"
#include "vm/capped_log.h"
#include "vm/qemu_command.h"
#include "vm/vm_launcher.h"
#include "volume/disk_users.h"

namespace matchlock::sandbox {

// The boot order. Each step's context prefixes its errors.
// (Plain functions rather than pointers to members: GCC 12's ASan/UBSan build miscompiled the
// member-pointer call, a SEGV on the first step.)
const Boot::Step Boot::kSteps[] = {
    {"publish ports", [](Boot& b, StepDone d) { b.publish_ports(std::move(d)); }},
    {"state", [](Boot& b, StepDone d) { b.open_state(std::move(d)); }},
    {"disks", [](Boot& b, StepDone d) { b.check_disks(std::move(d)); }},
    {"image", [](Boot& b, StepDone d) { b.resolve_image(std::move(d)); }},
    {"guest bundle", [](Boot& b, StepDone d) { b.locate_guest_bundle(std::move(d)); }},
    {"register sandbox", [](Boot& b, StepDone d) { b.register_sandbox(std::move(d)); }},
    {"accelerator", [](Boot& b, StepDone d) { b.choose_accelerator(std::move(d)); }},
    {"certificate authority",
     [](Boot& b, StepDone d) { b.create_certificate_authority(std::move(d)); }},
    {"network", [](Boot& b, StepDone d) { b.start_network(std::move(d)); }},
    {"files", [](Boot& b, StepDone d) { b.prepare_files(std::move(d)); }},
    {"warm start", [](Boot& b, StepDone d) { b.plan_warm_start(std::move(d)); }},
    // After the plan: a restored guest's writable disk is a copy of the saved one.
    {"upper disk", [](Boot& b, StepDone d) { b.create_upper_disk(std::move(d)); }},
    {"start QEMU", [](Boot& b, StepDone d) { b.start_qemu(std::move(d)); }},
    {"connect", [](Boot& b, StepDone d) { b.connect_guest_and_qmp(std::move(d)); }},
};

namespace {

std::string new_sandbox_id() {
  std::random_device rd;
  std::ostringstream s;
  s << "vm-" << std::hex;
  for (int i = 0; i < 8; ++i) s << (rd() & 0xf);
  return s.str();
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

// Calls `done` once: with the first error, or with success after `count` successes.
std::function<void(Status)> all_of(int count, std::function<void(Status)> done) {
  struct Pending {
    int left;
    std::function<void(Status)> done;
  };
  auto p = std::make_shared<Pending>(Pending{count, std::move(done)});
  return [p](Status st) {
    if (!p->done) return;
    if (!st.ok() || --p->left == 0) std::exchange(p->done, nullptr)(std::move(st));
  };
}

}  // namespace

void Boot::start(uv_loop_t* loop, SandboxOptions options, Sandbox::CreateCallback done) {
  // Before any child process exists: none may inherit a secret's value (secret_spec.h).
  remove_secret_values_from_environment(options.secrets);
  auto sandbox = std::shared_ptr<Sandbox>(new Sandbox(loop, new_sandbox_id(), std::move(options)));
  auto boot = std::shared_ptr<Boot>(new Boot(std::move(sandbox), std::move(done)));
  boot->run_step(0);
}

Boot::Boot(std::shared_ptr<Sandbox> sandbox, Sandbox::CreateCallback done)
    : sandbox_(std::move(sandbox)), done_(std::move(done)) {}

size_t Boot::files_step_index() {
  for (size_t i = 0; i < std::size(kSteps); ++i) {
    if (std::string_view(kSteps[i].context) == "files") return i;
  }
  return 0;
}

void Boot::log_milestone(const std::string& what) const {
  if (!log::enabled(log::Level::kDebug) || !sandbox_) return;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started_)
                .count();
  log::debug("sandbox " + sandbox_->id() + ": +" + std::to_string(ms) + " ms " + what);
}

void Boot::run_step(size_t index) {
  if (index == std::size(kSteps)) {
    log_milestone("ready");
    return ready();
  }
  current_step_ = index;
  log_milestone(kSteps[index].context);
  kSteps[index].run(*this, [self = shared_from_this(), index, attempt = attempt_](Status st) {
    if (self->finished()) return;           // a watchdog failed the boot meanwhile
    if (attempt != self->attempt_) return;  // a restore given up for a cold boot
    if (!st.ok()) return self->fail(st.error().with_context(kSteps[index].context));
    self->run_step(index + 1);
  });
}

// ---- the steps ---------------------------------------------------------------------------------

void Boot::open_state(StepDone done) {
  auto state = state::StateStore::open(matchlock_home());
  if (!state.ok()) return done(state.error());
  res().state = std::move(state.value());
  done(Status());
}

// --disk / extra_disks held by another live sandbox: read-write on either side is refused
// before anything is created, naming the holder. (QEMU's image lock still catches a race
// between two boots: disk_lock_refusal words that.)
void Boot::check_disks(StepDone done) {
  for (const auto& disk : sandbox_->options_.disks) {
    auto users = volume::active_disk_users(*res().state, disk.host_path);
    if (!users.ok()) return done(users.error());
    std::vector<volume::DiskUser> conflicting;
    for (const auto& u : *users) {
      if (!disk.readonly || !u.readonly) conflicting.push_back(u);
    }
    if (!conflicting.empty()) {
      return done(Error(ErrorCode::kAlreadyExists,
                        disk.host_path + " is in use by running sandbox " +
                            volume::describe_users(conflicting) +
                            ": a disk is attached read-write to one sandbox at a time"));
    }
  }
  done(Status());
}

void Boot::resolve_image(StepDone done) {
  // Image lookup and base-disk build may take seconds: off the loop. The work sees only its
  // own copies and results, never this Boot.
  struct Found {
    Result<image::ImageRecord> image = Error();
    Result<std::filesystem::path> base_disk = Error();
  };
  auto found = std::make_shared<Found>();
  std::string ref = sandbox_->options_.image;
  const bool pull_always = sandbox_->options_.pull_always;
  uv::queue_work(
      sandbox_->loop_,
      [ref, pull_always, found] {
        auto store = image::ImageStore::open(images_dir());
        if (!store.ok()) {
          found->image = store.error();
          return;
        }
        if (!pull_always) found->image = (*store)->find(ref);
        // Pull on first use (docker's behaviour), or always when asked to.
        if (pull_always ||
            (!found->image.ok() && found->image.error().code == ErrorCode::kNotFound)) {
          auto pulled = (*store)->pull(ref, image::PullOptions{});
          if (pulled.ok()) {
            found->image = std::move(pulled->image);
          } else {
            found->image = pulled.error();
          }
        }
        if (found->image.ok()) found->base_disk = (*store)->base_disk(found->image.value());
      },
      [self = shared_from_this(), found, done = std::move(done)] {
        if (self->finished()) return;
        if (!found->image.ok()) return done(found->image.error());
        if (!found->base_disk.ok()) return done(found->base_disk.error());
        self->res().image = found->image.value();
        self->base_disk_ = found->base_disk.value();
        done(Status());
      });
}

// run -p: bound first, so a port in use fails before anything is pulled, written or spawned.
// Connections that arrive before the guest is ready are reset.
void Boot::publish_ports(StepDone done) {
  if (sandbox_->options_.port_forwards.empty()) return done(Status());
  auto forwarder = sandbox_->forward_ports(sandbox_->options_.port_forwards);
  if (!forwarder.ok()) return done(forwarder.error());
  res().published_ports = std::move(forwarder.value());
  undo_.push_back([this] { res().published_ports.reset(); });
  done(Status());
}

void Boot::locate_guest_bundle(StepDone done) {
  auto bundle = vm::locate_bundle();
  if (!bundle.ok()) return done(bundle.error());
  bundle_ = bundle.value();
  done(Status());
}

// The sandbox's directory and state row: from here on, a failure has files and a row to remove.
void Boot::register_sandbox(StepDone done) {
  auto& r = res();
  auto dir = ensure_private_dir(r.dir);
  if (!dir.ok()) return done(dir.error());
  state::SandboxRow row;
  row.id = sandbox_->id_;
  row.status = "creating";
  row.image = r.image.name;
  row.owner_pid = ::getpid();
  row.created_unix = static_cast<int64_t>(::time(nullptr));
  row.config_json = options_record_json(sandbox_->options_);
  auto inserted = r.state->insert_sandbox(row);
  if (!inserted.ok()) {
    std::error_code ec;
    remove_tree(r.dir, ec);
    return done(inserted.error());
  }
  undo_.push_back([this] { sandbox_->remove_files_and_state(); });
  warn_if_failed(r.state->append_lifecycle(sandbox_->id_, "creating", r.image.digest));
  done(Status());
}

// A cold boot gets a new, empty filesystem (a copy of the cached one), before QEMU starts. A
// restored guest gets a copy of the writable disk the saved guest had mounted, checked against
// the save's checksum; that copy runs while QEMU starts and loads the saved guest, which runs
// only once it is done (restore_guest). A copy that fails (corrupt save, full disk) turns the
// boot cold (fall_back_to_cold_boot).
void Boot::create_upper_disk(StepDone done) {
  auto path = res().upper_disk();
  uint64_t size = sandbox_->options_.disk_size_mib;
  std::error_code ec;
  std::filesystem::remove(path, ec);  // a cold boot after a failed restore starts afresh
  if (guest_start_.mode == GuestStart::kRestore) {
    // Made here, so QEMU opens the very file the copy fills (through its own descriptor).
    UniqueFd out(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!out) return done(io_error("create " + path.string() + ": " + std::strerror(errno)));
    auto shared_out = std::make_shared<UniqueFd>(std::move(out));
    upper_copy_ =
        BackgroundCheck::start(sandbox_->loop_, [saved = *guest_start_.saved, shared_out, path] {
          return copy_saved_upper_disk(saved, shared_out->get(), path);
        });
    return done(Status());
  }
  auto created = std::make_shared<Status>();
  uv::queue_work(
      sandbox_->loop_,
      [created, path, size, cache = empty_upper_disk_cache()] {
        *created = create_empty_upper_disk(cache, path, size);
      },
      [self = shared_from_this(), created, done = std::move(done)] {
        if (self->finished()) return;
        done(*created);
      });
}

void Boot::choose_accelerator(StepDone done) {
  vm::ProbeInputs probe;
  probe.kernel = bundle_.kernel;
  probe.initrd = bundle_.initrd;
  probe.cache_file = matchlock_home() / "cache" / "accel";
  vm::choose_accelerator(
      sandbox_->loop_, probe,
      [self = shared_from_this(), done = std::move(done)](vm::AccelChoice c) {
        log::debug("accelerator: " + std::string(vm::accel_name(c.accel)) + " (" + c.reason + ")");
        self->accel_ = c;
        done(Status());
      });
}

// Interception mode's CA, one per sandbox: made before the network policy that signs with it
// and before the guest configuration that delivers its certificate.
void Boot::create_certificate_authority(StepDone done) {
  const auto& options = sandbox_->options_;
  if (!wants_interception(options) || vm::slirp_baseline_requested()) return done(Status());
  auto ca = net::tls::CertificateAuthority::create(sandbox_->id_);
  if (!ca.ok()) return done(ca.error());
  auto pem = ca->certificate_pem();
  if (!pem.ok()) return done(pem.error());
  certificate_authority_ =
      std::make_shared<const net::tls::CertificateAuthority>(std::move(ca.value()));
  ca_certificate_pem_ = std::move(pem.value());
  done(Status());
}

// The guest NIC: the engine's lwIP stack, whose link QEMU connects once it starts (start_qemu).
void Boot::start_network(StepDone done) {
  const auto& options = sandbox_->options_;
  if (options.no_network) return done(Status());
  if (vm::slirp_baseline_requested()) {
    slirp_baseline_ = true;
    log::warn("MATCHLOCK_UNSAFE_SLIRP_BASELINE=1: unfiltered QEMU user network");
    return done(Status());
  }
  auto policy =
      make_network_policy(options, sandbox_->id_, certificate_authority_, sandbox_->loop_);
  if (!policy.ok()) return done(policy.error());
  res().policy = policy.value();
  if (res().policy) {
    std::weak_ptr<Sandbox> weak = sandbox_;
    res().policy->set_on_network_event([weak](const NetworkEvent& e) {
      auto sb = weak.lock();
      if (sb && sb->on_event_) sb->on_event_(e);
    });
  }
  // The policy holds the secrets' values now; the sandbox keeps names, hosts and placeholders.
  for (auto& secret : sandbox_->options_.secrets) forget_value(secret);
  net::NetworkConfig cfg;
  cfg.mtu = options.mtu;
  cfg.dns_servers = options.dns_servers;
  cfg.policy = res().policy;
  std::weak_ptr<Sandbox> weak = sandbox_;
  auto net =
      net::NetworkStack::start(sandbox_->loop_, UniqueFd(), std::move(cfg), [weak](const Error& e) {
        if (auto sb = weak.lock()) sb->on_network_lost(e);
      });
  if (!net.ok()) return done(net.error());
  res().net = std::move(net.value());
  undo_.push_back([this] { res().net.reset(); });
  done(Status());
}

// The workspace's mount table (host paths opened now, so a mount that vanished since the
// flags were checked fails here) and the hooks; the file server starts with QEMU.
void Boot::prepare_files(StepDone done) {
  auto table = build_mount_table(sandbox_->options_.vfs, res().dir);
  if (!table.ok()) return done(table.error());
  mount_table_ = std::move(table.value());
  const auto& hooks = sandbox_->options_.vfs.hooks;
  if (!hooks.empty()) {
    std::weak_ptr<Sandbox> weak = sandbox_;
    res().vfs_hooks = std::make_shared<vfs::HookPipeline>(
        sandbox_->loop_, hooks, [weak](const vfs::FileOperation& op, int error) {
          auto sb = weak.lock();
          if (sb && sb->on_event_) sb->on_event_(FileEvent{op, error});
        });
  }
  done(Status());
}

Status Boot::start_file_server(UniqueFd vhost_user_socket) {
  auto& r = res();
  std::weak_ptr<Sandbox> weak = sandbox_;
  auto server = vfs::VfsService::start(
      sandbox_->loop_, std::move(vhost_user_socket), std::move(*mount_table_),
      sandbox_->options_.vfs.workspace, r.vfs_hooks, [weak](const Error& e) {
        // The socket closes when QEMU exits, which its own exit handling reports (a crash, or
        // the end of a shutdown): only a refused message is news. The workspace stops answering.
        auto sb = weak.lock();
        if (sb && sb->lifecycle_ == Lifecycle::kRunning && e.code != ErrorCode::kCancelled) {
          log::warn("sandbox " + sb->id() + ": file server: " + e.message);
        }
      });
  mount_table_.reset();
  // Without its server the guest's workspace mount would fail: the boot fails here instead.
  if (!server.ok()) return server.error().with_context("file server");
  r.files = std::move(server.value());
  return Status();
}

vm::VmSpec Boot::vm_spec() const {
  const auto& options = sandbox_->options_;
  auto& r = res();
  vm::VmSpec spec;
  spec.accel = accel_.accel;
  spec.kernel = bundle_.kernel;
  spec.initrd = bundle_.initrd;
  spec.vcpus = static_cast<int>(std::ceil(options.cpus));
  spec.memory_mib = options.memory_mib;
  spec.base_disk = base_disk_;
  spec.upper_disk = r.upper_disk();
  for (size_t i = 0; i < options.disks.size(); ++i) {
    const auto& disk = options.disks[i];
    spec.data_disks.push_back({disk.host_path, vm::data_disk_serial(i), disk.readonly});
  }
  spec.host_tsc_khz = vm::host_tsc_khz();
  spec.slirp_baseline = slirp_baseline_;
  spec.network = r.net != nullptr;
  spec.mtu = options.mtu;
  if (spec.network) {
    // The addressing every sandbox of this machine gets (CONFIG sends it too): the guest sets it
    // at boot, before a save, so a restored guest's CONFIG finds it done. It is in the command
    // line, so in the saved guest's key.
    auto a = net::guest_addressing(options.mtu);
    spec.extra_kernel_args.push_back("matchlock.net=" + a.address + "/" + std::to_string(a.prefix) +
                                     "," + a.gateway + "," + std::to_string(a.mtu));
  }
  spec.vfs = true;
  return spec;
}

void Boot::start_qemu(StepDone done) {
  auto& r = res();
  undo_before_qemu_ = undo_.size();
  vm::VmSpec spec = vm_spec();
  spec.incoming_deferred = guest_start_.mode == GuestStart::kRestore;
  // QEMU gets the warm start's file open, from the start: it may have no right to open it.
  if (guest_start_.mode == GuestStart::kRestore) {
    spec.migration_file = guest_start_.saved->state_file;
  } else if (guest_start_.slot) {
    spec.migration_file = guest_start_.slot->temporary_file();
    spec.migration_writes = true;
    // The guest to be saved lets its kernel finish the boot work it defers by a timer before
    // HELLO, or every restore would do it (boot_settle.h in the guest). Not in the save's key:
    // it changes when the guest says HELLO, not what it is.
    spec.extra_kernel_args.push_back("matchlock.settle=1");
  }
  if (auto dir = vm::bench_virtfs_requested()) {
    std::error_code ec;
    if (!dir->is_absolute() || !std::filesystem::is_directory(*dir, ec)) {
      return done(
          invalid_argument("MATCHLOCK_UNSAFE_BENCH_VIRTFS must name a host directory "
                           "by its absolute path"));
    }
    log::warn("MATCHLOCK_UNSAFE_BENCH_VIRTFS: " + dir->string() + " shared over virtio-9p");
    spec.bench_virtfs_dir = *dir;
  }
  std::weak_ptr<Sandbox> weak_sandbox = sandbox_;
  std::weak_ptr<Boot> weak_boot = shared_from_this();
  auto vm = vm::launch_vm(sandbox_->loop_, spec,
                          [weak_sandbox, weak_boot, attempt = attempt_](vm::ExitInfo info) {
                            auto sb = weak_sandbox.lock();
                            if (!sb) return;
                            auto boot = weak_boot.lock();
                            if (boot && boot->attempt_ != attempt) return;  // abandoned QEMU
                            if (boot && !boot->finished()) return boot->on_vm_exit(info);
                            sb->on_vm_exit(info);
                          });
  if (!vm.ok()) return done(vm.error());
  r.qemu = std::move(vm->process);
  undo_.push_back([this] { res().qemu.reset(); });  // SIGKILL + reap: no QEMU outlives a failure
  warn_if_failed(r.state->set_qemu_pid(sandbox_->id_, r.qemu->pid()));
  auto console =
      vm::CappedLog::start(sandbox_->loop_, std::move(vm->console), r.dir / "console.log",
                           vm::kConsoleLogCap, "the guest console");
  if (!console.ok()) return done(console.error().with_context("guest console"));
  r.console = std::move(console.value());
  undo_.push_back([this] { res().console.reset(); });
  auto output = vm::CappedLog::start(sandbox_->loop_, std::move(vm->output), r.dir / "qemu.log",
                                     vm::kQemuLogCap, "QEMU");
  if (!output.ok()) return done(output.error().with_context("QEMU output"));
  r.qemu_output = std::move(output.value());
  undo_.push_back([this] { res().qemu_output.reset(); });
  control_socket_ = std::move(vm->control);
  qmp_socket_ = std::move(vm->qmp);
  if (vm->net) {
    // QEMU connects while it starts; until then the stack's frames have nowhere to go.
    net_listener_ = std::move(vm->net);
    net_listener_->accept_from(r.qemu->pid(), [this, weak_boot, attempt = attempt_](UniqueFd link) {
      auto boot = weak_boot.lock();
      if (!boot || attempt_ != attempt || !res().net) return;
      net_listener_.reset();
      if (auto st = res().net->replace_link(std::move(link)); !st.ok()) {
        log::warn("sandbox " + sandbox_->id_ + ": the NIC: " + st.error().message);
      }
    });
  }
  auto files = start_file_server(std::move(vm->vfs));
  if (!files.ok()) return done(files.error());
  undo_.push_back([this] {
    if (res().files) res().files->close();
    res().files.reset();
  });
  done(Status());
}

// Ready when both the guest agent has taken its configuration and QEMU reports the machine
// running (not paused or in prelaunch); the first failure of either fails the step.
void Boot::connect_guest_and_qmp(StepDone done) {
  arm_timeout();
  auto both = all_of(2, std::move(done));
  auto& r = res();
  undo_.push_back([this] {
    res().guest.reset();
    res().agent_port_watch.reset();
    res().qmp.reset();
  });
  std::weak_ptr<Sandbox> weak = sandbox_;
  r.guest = guest_client::GuestConnection::create(sandbox_->loop_, std::move(control_socket_),
                                                  [weak, both](const Error& e) {
                                                    auto sb = weak.lock();
                                                    if (!sb) return;
                                                    if (sb->lifecycle_ == Lifecycle::kBooting) {
                                                      return both(e);
                                                    }
                                                    sb->on_guest_lost(e);
                                                  });
  std::weak_ptr<Boot> weak_boot = shared_from_this();
  const GuestStart mode = guest_start_.mode;
  if (mode == GuestStart::kColdAndSave) {
    r.guest->defer_hello_reply([weak_boot](std::function<void()> reply) {
      if (auto self = weak_boot.lock(); self && !self->finished()) {
        self->save_guest_at_hello(std::move(reply));
      }
    });
  }
  // A restored guest said HELLO before it was saved: its handshake starts once it runs again.
  if (mode != GuestStart::kRestore) r.guest->handshake(guest_config(), both);
  r.qmp = std::make_unique<vm::QmpClient>(
      sandbox_->loop_, std::move(qmp_socket_), [weak_boot, both, mode](Status st) {
        auto self = weak_boot.lock();
        if (!self || self->finished()) return;
        if (!st.ok()) return both(std::move(st));
        self->log_milestone("QMP ready");
        if (mode == GuestStart::kRestore) return self->restore_guest(both);
        self->res().qmp->query_status([both](Result<vm::VmStatus> status) {
          if (!status.ok()) return both(status.error());
          if (!status->running) {
            return both(
                Error(ErrorCode::kVm, "QEMU reports the VM is not running: " + status->status));
          }
          both(Status());
        });
      });
  watch_agent_port();
}

// Once the guest is ready, its agent's port changing state means the channel is no longer the
// agent's: the connection is closed at once (nothing more from the port is believed) and the
// sandbox crashes with that reason. The read gate makes the order hold: before guest bytes are
// decoded, QEMU's events already written are handled, so bytes sent after a takeover are dropped.
void Boot::watch_agent_port() {
  auto& r = res();
  std::weak_ptr<guest_client::GuestConnection> weak_guest = r.guest;
  std::weak_ptr<Sandbox> weak_sandbox = sandbox_;
  r.agent_port_watch = std::make_unique<AgentPortWatch>(
      *r.qmp, vm::kAgentPortId,
      [weak_guest] {
        auto guest = weak_guest.lock();
        return guest && guest->ready();
      },
      [weak_guest, weak_sandbox](const Error& e) {
        auto sb = weak_sandbox.lock();
        if (!sb || sb->lifecycle_ != Lifecycle::kRunning) return;  // stopping: the agent let go
        if (auto guest = weak_guest.lock()) guest->lose(e);
      });
  vm::QmpClient* qmp = r.qmp.get();
  r.guest->set_read_gate([qmp, alive = qmp->lifetime()] {
    if (!alive.expired()) qmp->read_pending_now();
  });
}

// ---- helpers of the steps ----------------------------------------------------------------------

guest_client::GuestConfig Boot::guest_config() const {
  const auto& options = sandbox_->options_;
  guest_client::GuestConfig cfg;
  cfg.hostname = options.hostname;
  cfg.hosts_file = hosts_file(options.hostname, options.add_hosts);
  cfg.resolv_conf = resolv_conf(options.dns_servers);
  cfg.ca_certificate = ca_certificate_pem_;  // "" outside interception mode
  cfg.workspace = options.vfs.workspace;
  cfg.restored = guest_start_.mode == GuestStart::kRestore;
  for (size_t i = 0; i < options.disks.size(); ++i) {
    const auto& disk = options.disks[i];
    cfg.disks.push_back({vm::data_disk_serial(i), disk.guest_path, disk.readonly});
  }
  if (res().net) {
    auto a = net::guest_addressing(options.mtu);
    cfg.network = guest_client::GuestNetwork{a.address, a.prefix, a.gateway, a.mtu};
  } else if (slirp_baseline_) {
    vm::SlirpAddressing a;
    cfg.network = guest_client::GuestNetwork{a.address, a.prefix, a.gateway, options.mtu};
    cfg.resolv_conf = "nameserver " + a.dns + "\n";
  }
  return cfg;
}

// The watchdog over the wait for the guest, counted from QEMU's start.
void Boot::arm_timeout() {
  uint64_t limit = knobs::milliseconds(knobs::kBootTimeoutMs)
                       .value_or(accel_.accel == vm::Accel::kTcg ? 120000 : 30000);
  timeout_ = std::make_unique<uv::Timer>(sandbox_->loop_);
  std::weak_ptr<Boot> weak = shared_from_this();  // the timer lives in Boot: no cycle
  timeout_->start(limit, [weak, limit] {
    auto self = weak.lock();
    if (!self) return;
    self->fail_in_current_step(Error(ErrorCode::kTimeout, "the guest agent did not answer within " +
                                                              std::to_string(limit / 1000) + " s"));
  });
}

// QEMU refuses a data disk that another process holds (its image lock: a sandbox that booted
// meanwhile, the same file under another name, anything else). A cold boot's QEMU exits at once,
// which the step waiting on QEMU sees first as a closed channel, the reason in QEMU's output; a
// restored guest's disks are attached over QMP, whose error says it.
std::string Boot::disk_lock_refusal(const Error& e) const {
  if (!sandbox_ || sandbox_->options_.disks.empty()) return "";
  // Not the guest console's lines that on_vm_exit appends: the guest writes those.
  std::string_view said = e.message;
  said = said.substr(0, said.find("--- guest console"));
  std::string log = std::string(said) + "\n" + sandbox_->qemu_output_tail(5);
  // "Failed to get "write" lock": another QEMU (or qemu-img) has the image; "Failed to lock
  // byte N": any other process holds a lock over QEMU's lock bytes.
  auto at = log.find("Failed to get ");
  if (at == std::string::npos || log.find(" lock", at) == std::string::npos) {
    at = log.find("Failed to lock byte ");
  }
  if (at == std::string::npos) return "";
  std::string image;
  if (auto open = log.find("image [", at); open != std::string::npos) {
    auto close = log.find(']', open);
    if (close != std::string::npos) image = log.substr(open + 7, close - open - 7);
  }
  return "start QEMU: disk " + (image.empty() ? std::string("image") : image) +
         " is in use by another process (QEMU could not lock it): a disk is attached "
         "read-write to one sandbox at a time";
}

void Boot::on_vm_exit(const vm::ExitInfo& info) {
  auto& r = res();
  std::string qemu_log = sandbox_->qemu_output_tail(5);
  std::string console = sandbox_->console_tail(15);
  Error e(ErrorCode::kVm, "the VM " + info.describe() + " during boot");
  if (!qemu_log.empty()) e.message += "\n--- qemu ---\n" + qemu_log;
  if (!console.empty()) e.message += "--- guest console ---\n" + console;
  r.qemu.reset();  // already gone: only the handle is left
  fail_in_current_step(e);
}

void Boot::ready() {
  timeout_->stop();
  undo_.clear();
  auto& r = res();
  sandbox_->move_to(Lifecycle::kRunning);
  warn_if_failed(r.state->set_status(sandbox_->id_, "running"));
  warn_if_failed(r.state->append_lifecycle(sandbox_->id_, "running", ""));
  auto done = std::exchange(done_, nullptr);
  done(std::exchange(sandbox_, nullptr));  // callbacks now reach the sandbox through weak refs
}

void Boot::fail(Error e) {
  if (finished()) return;
  // A locked disk is the user's to free, not a fault of the saved guest: no cold boot (it would
  // meet the same lock) and the save stays.
  if (auto refusal = disk_lock_refusal(e); !refusal.empty()) {
    e = Error(ErrorCode::kAlreadyExists, refusal);
  } else if (fall_back_to_cold_boot(e)) {
    return;
  }
  auto done = std::exchange(done_, nullptr);
  if (timeout_) timeout_->stop();
  auto& r = res();
  if (r.qemu && r.qemu->running()) {
    std::string console = sandbox_->console_tail(15);
    if (!console.empty()) e.message += "\n--- guest console (last lines) ---\n" + console;
  }
  auto undo = std::move(undo_);
  for (auto it = undo.rbegin(); it != undo.rend(); ++it) (*it)();
  sandbox_->move_to(Lifecycle::kClosed);
  // Callbacks hold this Boot; dropping the sandbox breaks the cycle and may end this Boot.
  auto sandbox = std::exchange(sandbox_, nullptr);
  sandbox.reset();
  done(std::move(e));
}

void Boot::fail_in_current_step(const Error& e) {
  fail(e.with_context(kSteps[current_step_].context));
}

}  // namespace matchlock::sandbox
