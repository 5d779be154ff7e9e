#include "agent.h"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <string>
#include <vector>

#include "agent_messages.h"
#include "boot_settings.h"
#include "build_root.h"
#include "ca_trust.h"
#include "config_apply.h"
#include "disk_reprobe.h"
#include "entropy.h"
#include "exec_request.h"
#include "log.h"
#include "process_spawn.h"
#include "shutdown.h"

namespace matchlock::guest_agent {

using guest_protocol::Frame;
using guest_protocol::FrameType;

namespace {

constexpr long kReconnectCheckNs = 20'000'000;  // 20 ms: fast resync, negligible idle cost
// Above this much unsent output, running processes are not read until the port drains.
constexpr size_t kOutgoingHighWater = 4 << 20;
// Open port streams at once; each holds a socket, and exec sessions need fds too.
constexpr size_t kMaxPortSessions = 512;
// File streams at once; a reading one holds an open file.
constexpr size_t kMaxFileSessions = 256;

int64_t boot_ms() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1'000'000;
}

void arm_periodic(int timer_fd, long interval_ns) {
  itimerspec spec{};
  spec.it_value.tv_nsec = interval_ns;
  spec.it_interval.tv_nsec = interval_ns;
  ::timerfd_settime(timer_fd, 0, &spec, nullptr);
}

void disarm(int timer_fd) {
  itimerspec spec{};
  ::timerfd_settime(timer_fd, 0, &spec, nullptr);
}

}  // namespace

Agent::Agent(Channel channel, std::string modules_dir, SandboxDisks disks, Status root,
             std::optional<WorkloadView> workload_view, std::vector<StepClock::Step> boot_steps,
             std::optional<VfsMount> boot_workspace)
    : channel_(std::move(channel)),
      boot_steps_(std::move(boot_steps)),
      root_(std::move(root)),
      workload_view_(std::move(workload_view)),
      modules_dir_(std::move(modules_dir)),
      disks_(std::move(disks)),
      vfs_(std::move(boot_workspace)) {
  sigset_t child_signal;
  sigemptyset(&child_signal);
  sigaddset(&child_signal, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &child_signal, nullptr);
  child_signals_.reset(::signalfd(-1, &child_signal, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!child_signals_) fatal("signalfd: " + std::to_string(errno));
  // Broken pipes show up as EPIPE on the write instead.
  ::signal(SIGPIPE, SIG_IGN);
  reconnect_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!reconnect_timer_) fatal("timerfd_create: " + std::to_string(errno));
  // Before the HELLO, so a saved guest keeps it: most execs run as the default user.
  if (root_.ok()) (void)users_.resolve("");
}

void Agent::run() {
  enum class Kind { kPort, kChildSignals, kReconnectTimer, kSession, kPortSession, kFileSession };
  struct Target {
    Kind kind;
    uint32_t stream = 0;
    ExecSession::Slot slot = ExecSession::Slot::kStdout;
  };
  std::vector<pollfd> fds;
  std::vector<Target> targets;
  std::vector<ExecSession::PollRequest> requests;

  on_connected();
  while (true) {
    fds.clear();
    targets.clear();
    if (channel_.connected()) {
      fds.push_back({channel_.fd(), channel_.poll_events(), 0});
      targets.push_back({Kind::kPort});
    } else {
      fds.push_back({reconnect_timer_.get(), POLLIN, 0});
      targets.push_back({Kind::kReconnectTimer});
    }
    fds.push_back({child_signals_.get(), POLLIN, 0});
    targets.push_back({Kind::kChildSignals});
    const bool port_has_room = channel_.queued_bytes() < kOutgoingHighWater;
    for (const auto& [stream, session] : sessions_) {
      requests.clear();
      session->collect_poll_requests(requests);
      for (const auto& request : requests) {
        bool is_output = request.slot == ExecSession::Slot::kStdout ||
                         request.slot == ExecSession::Slot::kStderr;
        if (is_output && !port_has_room) continue;
        fds.push_back({request.fd, request.events, 0});
        targets.push_back({Kind::kSession, stream, request.slot});
      }
    }
    for (const auto& [stream, port] : ports_) {
      if (auto request = port->poll_request(port_has_room)) {
        fds.push_back(*request);
        targets.push_back({Kind::kPortSession, stream});
      }
    }
    for (const auto& [stream, file] : files_) {
      if (auto request = file->poll_request(port_has_room)) {
        fds.push_back(*request);
        targets.push_back({Kind::kFileSession, stream});
      }
    }

    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno != EINTR) log_errno("poll");
      continue;
    }

    for (size_t i = 0; i < fds.size(); ++i) {
      const short revents = fds[i].revents;
      if (revents == 0) continue;
      const Target& target = targets[i];
      switch (target.kind) {
        case Kind::kPort: {
          bool still_connected = channel_.on_ready(revents);
          while (auto frame = channel_.next_frame()) on_frame(*frame);
          if (!still_connected) on_disconnected();
          break;
        }
        case Kind::kReconnectTimer: {
          uint64_t ticks;
          ssize_t ignored = ::read(reconnect_timer_.get(), &ticks, sizeof ticks);
          (void)ignored;
          if (channel_.check_reconnected()) {
            disarm(reconnect_timer_.get());
            on_connected();
          }
          break;
        }
        case Kind::kChildSignals: {
          signalfd_siginfo info;
          while (::read(child_signals_.get(), &info, sizeof info) == sizeof info) {
          }
          reap_children();
          break;
        }
        case Kind::kSession: {
          auto it = sessions_.find(target.stream);
          if (it != sessions_.end()) it->second->on_poll_ready(target.slot, revents);
          break;
        }
        case Kind::kPortSession: {
          auto it = ports_.find(target.stream);
          if (it != ports_.end()) it->second->on_poll_ready(revents);
          break;
        }
        case Kind::kFileSession: {
          auto it = files_.find(target.stream);
          if (it != files_.end()) it->second->on_poll_ready(revents);
          break;
        }
      }
    }
    std::erase_if(sessions_, [](const auto& entry) { return entry.second->finished(); });
    std::erase_if(ports_, [](const auto& entry) { return entry.second->finished(); });
    std::erase_if(files_, [](const auto& entry) { return entry.second->finished(); });
  }
}

void Agent::on_connected() {
  handshake_ = Handshake::kAwaitHello;
  channel_.send(FrameType::kHello, guest_protocol::kControlStream,
                hello_message(boot_ms(), boot_steps_));
}

void Agent::on_disconnected() {
  // Processes keep running; a reconnecting host resyncs from our next HELLO.
  log_line("host disconnected; waiting for it to come back");
  channel_.mark_disconnected();
  // Unlike processes, connections mean nothing to a new host, which starts a fresh stream set.
  ports_.clear();
  files_.clear();
  arm_periodic(reconnect_timer_.get(), kReconnectCheckNs);
}

void Agent::on_frame(const Frame& frame) {
  if (frame.stream == guest_protocol::kControlStream) {
    on_control_frame(frame);
    return;
  }
  if (frame.type == FrameType::kExecOpen) {
    on_exec_open(frame);
    return;
  }
  if (frame.type == FrameType::kPortOpen) {
    on_port_open(frame);
    return;
  }
  if (frame.type == FrameType::kFileRead || frame.type == FrameType::kFileWrite ||
      frame.type == FrameType::kFileList || frame.type == FrameType::kFileStat ||
      frame.type == FrameType::kFileMkdir || frame.type == FrameType::kFileRemove ||
      frame.type == FrameType::kFileRename) {
    on_file_open(frame);
    return;
  }
  // Frames for finished or unknown streams are normal (e.g. CREDIT racing EXIT): ignore them.
  if (auto it = sessions_.find(frame.stream); it != sessions_.end()) {
    on_session_frame(*it->second, frame);
  } else if (auto port = ports_.find(frame.stream); port != ports_.end()) {
    port->second->on_frame(frame);
  } else if (auto file = files_.find(frame.stream); file != files_.end()) {
    file->second->on_frame(frame);
  }
}

void Agent::on_control_frame(const Frame& frame) {
  switch (frame.type) {
    case FrameType::kHello: {
      auto version = parse_host_hello_version(frame.payload);
      if (!version || *version != guest_protocol::kProtocolVersion) {
        std::string seen = version ? std::to_string(*version) : "missing";
        channel_.send(FrameType::kError, guest_protocol::kControlStream,
                      error_message("unsupported protocol version " + seen + ", agent speaks " +
                                    std::to_string(guest_protocol::kProtocolVersion)));
        return;
      }
      handshake_ = Handshake::kAwaitConfig;
      return;
    }
    case FrameType::kConfig: {
      if (handshake_ == Handshake::kAwaitHello) {
        log_line("CONFIG before HELLO ignored");
        return;
      }
      config_clock_.start();
      auto prepared = prepare_sandbox(frame.payload);
      if (!prepared.ok()) {
        log_line(prepared.error().message);
        channel_.send(FrameType::kError, guest_protocol::kControlStream,
                      error_message(prepared.error().message));
        return;
      }
      auto applied = apply_config(frame.payload, config_clock_);
      if (!applied.ok()) {
        log_line("config: " + applied.error().message);
        channel_.send(FrameType::kError, guest_protocol::kControlStream,
                      error_message(applied.error().message));
        return;
      }
      exec_env_defaults_ = std::move(applied->exec_env_defaults);
      auto mounted = mount_disks(applied->disks);
      if (mounted.ok() && !applied->disks.empty()) config_clock_.mark("mount the data disks");
      if (mounted.ok()) mounted = mount_vfs(applied->workspace);
      if (!mounted.ok()) {
        log_line(mounted.error().message);
        channel_.send(FrameType::kError, guest_protocol::kControlStream,
                      error_message(mounted.error().message));
        return;
      }
      handshake_ = Handshake::kReady;
      channel_.send(FrameType::kReady, guest_protocol::kControlStream,
                    ready_message(channel_token_, config_clock_.steps()));
      return;
    }
    case FrameType::kPing:
      channel_.send(FrameType::kPong, guest_protocol::kControlStream, frame.payload);
      return;
    case FrameType::kShutdown: {
      auto grace_ms = guest_protocol::parse_u32(frame.payload);
      graceful_shutdown(grace_ms.value_or(0), vfs_ ? &*vfs_ : nullptr, disk_mounts_);
    }
    default:
      log_line(std::string("unexpected ") + guest_protocol::frame_type_name(frame.type) +
               " on the control stream ignored");
      return;
  }
}

Status Agent::prepare_sandbox(std::string_view config_payload) {
  // Restored guests share their RNG state and clock with the saved boot: both come first.
  auto settings = parse_boot_settings(config_payload);
  if (!settings.ok()) return settings.error();
  channel_token_ = settings->channel_token;
  MATCHLOCK_TRY(add_host_entropy(settings->entropy));
  if (settings->time_unix_ms) MATCHLOCK_TRY(set_clock(*settings->time_unix_ms));
  config_clock_.mark("entropy and clock");
  if (!root_.ok()) return io_error("entering the sandbox root: " + root_.error().message);
  // A host that reconnects sends CONFIG again; the disks are re-probed only once.
  if (disks_ready_ || !settings->restored || !settings->data_disks) return {};
  // Data disks are re-probed (their files and modes are this sandbox's). The image's disk is
  // the saved one (the key pins it), and the writable disk is the host's copy of the saved
  // boot's, which that boot had mounted: both are left as they are.
  // Generous: under TCG re-probing is slow, and the host's boot timeout still bounds it.
  constexpr auto kReprobeTimeout = std::chrono::seconds(10);
  MATCHLOCK_TRY(reprobe_virtio_disks({"base", "upper"}, kReprobeTimeout));
  config_clock_.mark("re-probe the data disks");
  disks_ready_ = true;
  return {};
}

Status Agent::mount_vfs(const std::string& workspace) {
  if (vfs_ && vfs_->workspace == workspace) {
    vfs_->made_by_boot = false;  // this sandbox's now: a later CONFIG may not move it
    return {};
  }
  if (vfs_ && !vfs_->made_by_boot) {
    return invalid_argument("config: the workspace is already mounted at " + vfs_->workspace);
  }
  if (vfs_) {
    // This sandbox's workspace is elsewhere (or it has none): the boot's mount goes.
    MATCHLOCK_TRY(unmount_boot_workspace(*vfs_));
    vfs_.reset();
    config_clock_.mark("unmount the boot's workspace");
  }
  if (workspace.empty()) return {};
  auto mounted = mount_workspace(workspace, modules_dir_);
  if (!mounted.ok()) return mounted.error();
  vfs_ = std::move(*mounted);
  config_clock_.mark("mount the workspace");
  return {};
}

Status Agent::mount_disks(const std::vector<DataDisk>& disks) {
  // Devices were probed during boot, long before CONFIG: a short wait covers a late one.
  constexpr auto kDiskWait = std::chrono::seconds(5);
  for (const auto& disk : disks) {
    if (std::find(disk_mounts_.begin(), disk_mounts_.end(), disk.path) != disk_mounts_.end()) {
      continue;  // a host that reconnected sends CONFIG again
    }
    auto mounted = mount_data_disk(disk, kDiskWait);
    if (!mounted.ok()) return mounted.error();
    disk_mounts_.push_back(disk.path);
  }
  return {};
}

bool Agent::stream_busy(uint32_t stream) const {
  return sessions_.count(stream) != 0 || ports_.count(stream) != 0 || files_.count(stream) != 0;
}

void Agent::on_exec_open(const Frame& frame) {
  if (stream_busy(frame.stream)) {
    log_line("EXEC_OPEN on busy stream " + std::to_string(frame.stream) + " ignored");
    return;
  }
  auto request = parse_exec_request(frame.payload);
  if (!request.ok()) {
    channel_.send(FrameType::kError, frame.stream, error_message(request.error().message, 126));
    return;
  }
  add_missing_env(request->env, exec_env_defaults_);
  std::optional<BuildStorage> storage;
  if (request->build_root) {
    // Mounted on first use only: sandboxes that never build never see the layer store.
    auto prepared = ensure_build_storage();
    if (!prepared.ok()) {
      channel_.send(FrameType::kError, frame.stream, error_message(prepared.error().message, 126));
      return;
    }
    storage = std::move(*prepared);
  }
  auto spawned = spawn_process(*request, storage ? &*storage : nullptr,
                               workload_view_ ? workload_view_->fd() : -1, users_);
  if (auto* failure = std::get_if<SpawnFailure>(&spawned)) {
    channel_.send(FrameType::kError, frame.stream,
                  error_message(failure->message, failure->exit_code));
    return;
  }
  auto& process = std::get<SpawnedProcess>(spawned);
  pid_t pid = process.pid;
  channel_.send(FrameType::kExecStarted, frame.stream, exec_started_message(pid));
  sessions_.emplace(frame.stream,
                    std::make_unique<ExecSession>(frame.stream, std::move(process), channel_));
}

void Agent::on_port_open(const Frame& frame) {
  if (stream_busy(frame.stream)) {
    log_line("PORT_OPEN on busy stream " + std::to_string(frame.stream) + " ignored");
    return;
  }
  if (ports_.size() >= kMaxPortSessions) {
    channel_.send(
        FrameType::kError, frame.stream,
        error_message("too many open port streams (" + std::to_string(kMaxPortSessions) + ")"));
    return;
  }
  ports_.emplace(frame.stream,
                 std::make_unique<PortSession>(frame.stream, frame.payload, channel_));
}

void Agent::on_file_open(const Frame& frame) {
  if (stream_busy(frame.stream)) {
    log_line(std::string(guest_protocol::frame_type_name(frame.type)) + " on busy stream " +
             std::to_string(frame.stream) + " ignored");
    return;
  }
  if (files_.size() >= kMaxFileSessions) {
    channel_.send(
        FrameType::kError, frame.stream,
        file_error_message("too many open file streams (" + std::to_string(kMaxFileSessions) + ")",
                           EMFILE));
    return;
  }
  auto session = std::make_unique<FileSession>(frame, channel_);
  // Most finish at once (a listing, a stat, an error...); only reads and writes in progress are
  // kept.
  if (!session->finished()) files_.emplace(frame.stream, std::move(session));
}

void Agent::on_session_frame(ExecSession& session, const Frame& frame) {
  switch (frame.type) {
    case FrameType::kData: {
      auto data = guest_protocol::parse_data(frame.payload);
      if (data && data->fd == guest_protocol::kStdin) session.on_stdin_data(data->bytes);
      return;
    }
    case FrameType::kEof: {
      auto fd = guest_protocol::parse_fd(frame.payload);
      if (fd && *fd == guest_protocol::kStdin) session.on_stdin_eof();
      return;
    }
    case FrameType::kCredit: {
      auto credit = guest_protocol::parse_credit(frame.payload);
      if (credit) session.on_credit(credit->fd, credit->bytes);
      return;
    }
    case FrameType::kResize: {
      auto size = guest_protocol::parse_resize(frame.payload);
      if (size) session.on_resize(size->rows, size->cols);
      return;
    }
    case FrameType::kSignal:
      if (frame.payload.size() == 1) session.on_signal(static_cast<uint8_t>(frame.payload[0]));
      return;
    case FrameType::kCancel: {
      auto grace_ms = guest_protocol::parse_u32(frame.payload);
      if (grace_ms) session.on_cancel(*grace_ms);
      return;
    }
    default:
      log_line(std::string("unexpected ") + guest_protocol::frame_type_name(frame.type) +
               " on stream " + std::to_string(frame.stream) + " ignored");
      return;
  }
}

void Agent::reap_children() {
  // As PID 1 every orphan in the guest ends up here; only our sessions' pids matter.
  int status = 0;
  pid_t pid;
  while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
    for (auto& [stream, session] : sessions_) {
      if (session->pid() == pid) {
        session->on_reaped(status);
        break;
      }
    }
  }
}

}  // namespace matchlock::guest_agent
