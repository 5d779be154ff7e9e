#include "vm/qemu_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace matchlock::vm {
namespace {

// The only PATH QEMU sees (it runs no helper programs in our configuration).
constexpr const char* kQemuPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// The largest fd number QEMU is handed (qemu_command.h's fds, data disks included).
constexpr int kMaxInheritedFd = 63;

void write_text(int fd, const char* text) {
  ssize_t ignored = ::write(fd, text, std::strlen(text));
  (void)ignored;
}

// Runs in the forked child: only async-signal-safe calls until execvp.
[[noreturn]] void exec_child(pid_t parent, char* const* argv, char* const* envp,
                             const std::map<int, int>& inherit, int log_fd,
                             const Confinement& confinement) {
  ::setpgid(0, 0);  // a terminal's Ctrl-C must reach the owner only, which then stops QEMU
  int devnull = ::open("/dev/null", O_RDONLY);
  if (devnull >= 0) ::dup2(devnull, 0);
  if (log_fd >= 0) {
    ::dup2(log_fd, 1);
    ::dup2(log_fd, 2);
  }
  // Move inherited fds above the target range first, so dup2 never clobbers a source.
  int moved[kMaxInheritedFd + 1];
  int count = 0;
  for (const auto& [target, source] : inherit) {
    if (target > kMaxInheritedFd) _exit(127);
    moved[count++] = ::fcntl(source, F_DUPFD, kMaxInheritedFd + 1);
  }
  count = 0;
  for (const auto& [target, source] : inherit) {
    ::dup2(moved[count++], target);
  }
  int max_target = 2;
  for (const auto& [target, source] : inherit)
    max_target = target > max_target ? target : max_target;
  ::syscall(SYS_close_range, max_target + 1, ~0U, 0);
  const char* failed_step = nullptr;
  if (!confine_this_process(confinement, &failed_step)) {
    write_text(2, "matchlock: cannot confine QEMU: ");
    write_text(2, failed_step);
    write_text(2, " failed\n");
    _exit(126);
  }
  // Set after the switch of ids, which clears it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) _exit(127);  // the owner died before prctl took effect
  ::execvpe(argv[0], argv, envp);
  _exit(127);
}

}  // namespace

std::string ExitInfo::describe() const {
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exited with status " + std::to_string(exit_code);
}

Result<std::unique_ptr<QemuProcess>> QemuProcess::spawn(
    uv_loop_t* loop, const std::vector<std::string>& argv, const std::map<int, int>& inherit,
    int output_fd, const Confinement& confinement, std::function<void(ExitInfo)> on_exit) {
  std::vector<std::string> args_copy = argv;
  std::vector<char*> cargv;
  for (auto& s : args_copy) cargv.push_back(s.data());
  cargv.push_back(nullptr);

  // Fail early with a clear message if the binary is missing, rather than a 127 from the child.
  if (argv.empty()) return invalid_argument("empty QEMU command");

  // QEMU gets a minimal environment, never the owner's: the host's variables (API keys among
  // them) are none of its business. PATH is looked up in ours, before the exec.
  std::string path_var = "PATH=" + std::string(kQemuPath);
  char* envp[] = {path_var.data(), const_cast<char*>("LC_ALL=C"), nullptr};

  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) return io_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) exec_child(parent, cargv.data(), envp, inherit, output_fd, confinement);

  UniqueFd pidfd(pidfd_open(pid));
  if (!pidfd) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return io_error(std::string("pidfd_open: ") + std::strerror(err));
  }
  return std::unique_ptr<QemuProcess>(
      new QemuProcess(loop, pid, std::move(pidfd), std::move(on_exit)));
}

QemuProcess::QemuProcess(uv_loop_t* loop, pid_t pid, UniqueFd pidfd,
                         std::function<void(ExitInfo)> on_exit)
    : pid_(pid), pidfd_(std::move(pidfd)), on_exit_(std::move(on_exit)) {
  poll_.init(loop, this, uv_poll_init, pidfd_.get());
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* p, int, int) {
    if (auto* self = static_cast<QemuProcess*>(p->data)) self->on_pidfd_readable();
  });
}

QemuProcess::~QemuProcess() {
  poll_.close();
  if (!exited_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);  // SIGKILL is immediate; reap so no zombie outlives us
  }
}

void QemuProcess::kill(int signo) {
  if (!exited_) ::kill(pid_, signo);
}

void QemuProcess::on_pidfd_readable() {
  int status = 0;
  pid_t r = ::waitpid(pid_, &status, WNOHANG);
  if (r != pid_) return;
  exited_ = true;
  uv_poll_stop(poll_.get());
  ExitInfo info;
  if (WIFEXITED(status)) info.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) info.signal = WTERMSIG(status);
  auto cb = std::move(on_exit_);
  if (cb) cb(info);  // may destroy this
}

}  // namespace matchlock::vm
