#include "process_spawn.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <optional>

#include "build_root.h"
#include "exec_path.h"
#include "fs_util.h"
#include "init_mounts.h"
#include "layer_builtins.h"
#include "pipe.h"
#include "pty.h"
#include "sandbox_policy.h"
#include "user_lookup.h"
#include "workload_view.h"

namespace matchlock::guest_agent {
namespace {

// The step of child setup that failed, reported with its errno through the error pipe.
enum class ChildStep : int {
  kStdio,
  kSession,
  kWorkloadView,  // detail: the mount that failed
  kCapabilities,
  kSetgroups,
  kSetgid,
  kSetuid,
  kChdir,
  kSeccomp,
  kExec,
  kBuildRoot,  // detail: the setup step
  kBuildUser,  // detail: the whole message (no errno)
};

struct ChildFailure {
  ChildStep step;
  int error;
  char detail[256];  // NUL-terminated; one pipe write stays atomic (< PIPE_BUF)
};

// Everything the child needs, prepared before fork so the child only makes syscalls.
struct ChildPlan {
  const ExecRequest* request = nullptr;
  ResolvedUser user;
  std::vector<std::string> env;
  std::vector<std::string> candidates;  // paths to try for argv[0], in PATH order
  std::vector<std::string> likely;      // those of them the agent found executable
  int stdin_fd = -1;                    // -1: /dev/null
  int stdout_fd = -1;
  int stderr_fd = -1;
  int tty_slave = -1;
  const BuildStorage* build_storage = nullptr;
  int workload_view = -1;  // the shared view's namespace (workload_view.h); -1: make one
};

std::string lowercase(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string error_text(int error) {
  return lowercase(std::strerror(error));
}

std::optional<std::string> find_env(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& entry : env) {
    if (entry.size() > key.size() && entry.compare(0, key.size(), key) == 0 &&
        entry[key.size()] == '=') {
      return entry.substr(key.size() + 1);
    }
  }
  return std::nullopt;
}

std::vector<char*> c_strings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (const auto& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

[[noreturn]] void fail_child(int error_pipe, ChildStep step, int error,
                             std::string_view detail = {}) {
  ChildFailure failure{step, error, {}};
  std::memcpy(failure.detail, detail.data(), std::min(detail.size(), sizeof failure.detail - 1));
  ssize_t ignored = ::write(error_pipe, &failure, sizeof failure);
  (void)ignored;
  ::_exit(step == ChildStep::kExec && error == ENOENT ? 127 : 126);
}

bool move_fd(int from, int to) {
  if (from == to) return ::fcntl(to, F_SETFD, 0) == 0;  // dup2 would keep close-on-exec
  return ::dup2(from, to) == to;
}

struct WalkOutcome {
  int error;
  bool exhausted;  // every candidate failed with an error the walk skips over
};

// Tries each candidate like execvpe: keep searching past missing files and permission errors,
// run scripts without a #! line with /bin/sh, stop on any other error.
WalkOutcome exec_first_candidate(const std::vector<std::string>& candidates, char* const* argv,
                                 char* const* envp) {
  bool saw_eacces = false;
  int last_error = ENOENT;
  for (const auto& candidate : candidates) {
    ::execve(candidate.c_str(), argv, envp);
    last_error = errno;
    if (errno == ENOEXEC) {
      std::vector<char*> shell_argv{const_cast<char*>("/bin/sh"),
                                    const_cast<char*>(candidate.c_str())};
      for (char* const* arg = argv + 1; *arg != nullptr; ++arg) shell_argv.push_back(*arg);
      shell_argv.push_back(nullptr);
      ::execve("/bin/sh", shell_argv.data(), envp);
      return {ENOEXEC, false};
    }
    if (errno == EACCES) {
      saw_eacces = true;
      continue;
    }
    if (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG || errno == ELOOP) continue;
    return {errno, false};
  }
  return {saw_eacces ? EACCES : last_error, true};
}

// A failed execve costs a whole exec setup (a new mm, argv and env copied), so only the likely
// candidates are tried. If they all fail in a way the walk skips over, the full walk runs, so
// the error reported is the one it always was: the agent looked as root, from its own cwd.
int exec_program(const ChildPlan& plan, char* const* argv, char* const* envp) {
  if (!plan.likely.empty()) {
    WalkOutcome outcome = exec_first_candidate(plan.likely, argv, envp);
    if (!outcome.exhausted) return outcome.error;
  }
  return exec_first_candidate(plan.candidates, argv, envp).error;
}

[[noreturn]] void run_build_root_init(const ChildPlan& plan, int error_pipe);
[[noreturn]] void run_as_user(const ChildPlan& plan, int error_pipe);

[[noreturn]] void run_child(const ChildPlan& plan, int error_pipe) {
  // The agent blocks SIGCHLD (for its signalfd) and ignores SIGPIPE; the program gets defaults.
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  for (int signo = 1; signo < NSIG; ++signo) ::signal(signo, SIG_DFL);

  const ExecRequest& request = *plan.request;
  if (plan.tty_slave >= 0) {
    if (::setsid() < 0 || ::ioctl(plan.tty_slave, TIOCSCTTY, 0) != 0) {
      fail_child(error_pipe, ChildStep::kSession, errno);
    }
    for (int fd = 0; fd <= 2; ++fd) {
      if (!move_fd(plan.tty_slave, fd)) fail_child(error_pipe, ChildStep::kStdio, errno);
    }
  } else {
    // Its own process group, so SIGNAL and CANCEL reach everything it starts.
    if (::setpgid(0, 0) != 0) fail_child(error_pipe, ChildStep::kSession, errno);
    int stdin_fd = plan.stdin_fd;
    if (stdin_fd < 0) stdin_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (stdin_fd < 0 || !move_fd(stdin_fd, 0) || !move_fd(plan.stdout_fd, 1) ||
        !move_fd(plan.stderr_fd, 2)) {
      fail_child(error_pipe, ChildStep::kStdio, errno);
    }
  }

  if (request.builtin != Builtin::kNone) {
    // A builtin never execs: closing the error pipe is what tells the agent it started (the
    // agent waits for that before it passes stdin on or reads the output).
    ::close(error_pipe);
    ::_exit(run_layer_builtin(request.builtin, request.build_root->upper, *plan.build_storage));
  }
  if (request.build_root) run_build_root_init(plan, error_pipe);
  run_as_user(plan, error_pipe);
}

// The build root's pid 1: the namespace setup, then what the agent does before fork for a
// normal exec (user, PATH candidates) but inside the new root, then the command.
[[noreturn]] void run_build_root_init(const ChildPlan& plan, int error_pipe) {
  const ExecRequest& request = *plan.request;
  auto entered = enter_build_root(*request.build_root, *plan.build_storage);
  if (auto* failure = std::get_if<BuildRootFailure>(&entered)) {
    fail_child(error_pipe, ChildStep::kBuildRoot, failure->error, failure->step);
  }
  auto& root = std::get<PreparedBuildRoot>(entered);
  ChildPlan inner = plan;
  auto user = resolve_user(request.user, read_file("/etc/passwd").value_or(""),
                           read_file("/etc/group").value_or(""));
  if (!user.ok()) fail_child(error_pipe, ChildStep::kBuildUser, 0, user.error().message);
  inner.user = *user;
  if (!find_env(inner.env, "HOME")) inner.env.push_back("HOME=" + inner.user.home);
  inner.candidates =
      exec_candidates(request.argv[0], find_env(request.env, "PATH").value_or(kDefaultPath));
  inner.likely = likely_candidates(inner.candidates);
  // As docker's WORKDIR: a missing working directory is created, owned by root.
  make_dirs(request.cwd);

  pid_t command = ::fork();
  if (command < 0) fail_child(error_pipe, ChildStep::kBuildRoot, errno, "fork");
  if (command == 0) {
    if (int error = become_build_command(request.tty)) {
      fail_child(error_pipe, ChildStep::kSession, error);
    }
    run_as_user(inner, error_pipe);
  }
  // Only the command reports from here on: the agent reads the pipe until its exec.
  ::close(error_pipe);
  supervise_build_command(command, request.tty, root);
}

// The common end of every exec: capabilities, user, cwd, seccomp, exec.
[[noreturn]] void run_as_user(const ChildPlan& plan, int error_pipe) {
  const ExecRequest& request = *plan.request;
  if (!request.privileged) {
    if (plan.workload_view >= 0) {
      if (int error = join_workload_view(plan.workload_view)) {
        fail_child(error_pipe, ChildStep::kWorkloadView, error, "the shared mount namespace");
      }
    } else {
      std::string failed_mount;
      if (int error = enter_workload_view(failed_mount)) {
        fail_child(error_pipe, ChildStep::kWorkloadView, error, failed_mount);
      }
    }
    if (int error = drop_dangerous_capabilities()) {
      fail_child(error_pipe, ChildStep::kCapabilities, error);
    }
  }
  std::vector<gid_t> groups(plan.user.groups.begin(), plan.user.groups.end());
  if (::setgroups(groups.size(), groups.data()) != 0) {
    fail_child(error_pipe, ChildStep::kSetgroups, errno);
  }
  if (::setgid(plan.user.gid) != 0) fail_child(error_pipe, ChildStep::kSetgid, errno);
  if (::setuid(plan.user.uid) != 0) fail_child(error_pipe, ChildStep::kSetuid, errno);
  if (::chdir(request.cwd.c_str()) != 0) fail_child(error_pipe, ChildStep::kChdir, errno);
  if (!request.privileged) {
    if (int error = restrict_syscalls()) fail_child(error_pipe, ChildStep::kSeccomp, error);
  }

  auto argv = c_strings(request.argv);
  auto envp = c_strings(plan.env);
  fail_child(error_pipe, ChildStep::kExec, exec_program(plan, argv.data(), envp.data()));
}

SpawnFailure describe_failure(const ExecRequest& request, const ResolvedUser& user,
                              ChildFailure failure) {
  const std::string reason = error_text(failure.error);
  switch (failure.step) {
    case ChildStep::kExec:
      return {"exec \"" + request.argv[0] + "\": " + reason, failure.error == ENOENT ? 127 : 126};
    case ChildStep::kChdir:
      if (failure.error == ENOENT) {
        return {"working directory \"" + request.cwd + "\" does not exist", 126};
      }
      return {"working directory \"" + request.cwd + "\": " + reason, 126};
    case ChildStep::kSetgroups:
      return {"setgroups: " + reason, 126};
    case ChildStep::kSetgid:
      return {"setgid " + std::to_string(user.gid) + ": " + reason, 126};
    case ChildStep::kSetuid:
      return {"setuid " + std::to_string(user.uid) + ": " + reason, 126};
    case ChildStep::kWorkloadView:
      return {"confine the workload's view of " + std::string(failure.detail) + ": " + reason, 126};
    case ChildStep::kCapabilities:
      return {"drop capabilities: " + reason, 126};
    case ChildStep::kSeccomp:
      return {"install seccomp filter: " + reason, 126};
    case ChildStep::kSession:
      return {"set up session: " + reason, 126};
    case ChildStep::kStdio:
      return {"set up stdio: " + reason, 126};
    case ChildStep::kBuildRoot:
      return {"build root: " + std::string(failure.detail) + ": " + reason, 126};
    case ChildStep::kBuildUser:
      return {std::string(failure.detail), 126};
  }
  return {"start process: " + reason, 126};
}

bool set_nonblocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

}  // namespace

std::variant<SpawnedProcess, SpawnFailure> spawn_process(const ExecRequest& request,
                                                         const BuildStorage* build_storage,
                                                         int workload_view, UserCache& users) {
  ChildPlan plan;
  plan.request = &request;
  // A build step's view is made inside its own namespaces (the shared one would leave them).
  plan.workload_view = request.build_root ? -1 : workload_view;
  plan.env = request.env;
  plan.build_storage = build_storage;
  if (request.build_root && !build_storage) return SpawnFailure{"no build storage", 126};
  // A build root's user and program are looked up inside it, by its pid 1; builtins run as root.
  if (!request.build_root) {
    auto user = users.resolve(request.user);
    if (!user.ok()) return SpawnFailure{user.error().message, 126};
    plan.user = *user;
    if (!find_env(plan.env, "HOME")) plan.env.push_back("HOME=" + plan.user.home);
    // execvpe semantics with the PATH of the request's environment, not the agent's.
    plan.candidates =
        exec_candidates(request.argv[0], find_env(request.env, "PATH").value_or(kDefaultPath));
    plan.likely = likely_candidates(plan.candidates);
  }

  SpawnedProcess process;
  process.tty = request.tty;
  std::optional<PtyPair> pty;
  std::optional<Pipe> stdin_pipe, stdout_pipe, stderr_pipe;
  if (request.tty) {
    auto opened = open_pty(request.rows, request.cols);
    if (!opened.ok()) return SpawnFailure{opened.error().message, 126};
    pty = std::move(*opened);
    plan.tty_slave = pty->slave.get();
  } else {
    if (request.stdin_open && !(stdin_pipe = make_pipe())) {
      return SpawnFailure{"pipe: " + error_text(errno), 126};
    }
    if (!(stdout_pipe = make_pipe()) || !(stderr_pipe = make_pipe())) {
      return SpawnFailure{"pipe: " + error_text(errno), 126};
    }
    if (stdin_pipe) plan.stdin_fd = stdin_pipe->read_end.get();
    plan.stdout_fd = stdout_pipe->write_end.get();
    plan.stderr_fd = stderr_pipe->write_end.get();
  }

  auto error_pipe = make_pipe();
  if (!error_pipe) return SpawnFailure{"pipe: " + error_text(errno), 126};

  const bool new_namespaces = request.build_root && request.builtin == Builtin::kNone;
  pid_t pid = new_namespaces ? fork_into_build_namespaces() : ::fork();
  if (pid < 0) return SpawnFailure{"fork: " + error_text(errno), 126};
  if (pid == 0) run_child(plan, error_pipe->write_end.get());

  // Also from the parent, so a SIGNAL arriving right away already finds the group.
  if (!request.tty) ::setpgid(pid, pid);
  error_pipe->write_end.reset();
  ChildFailure failure{};
  ssize_t n;
  do {
    n = ::read(error_pipe->read_end.get(), &failure, sizeof failure);
  } while (n < 0 && errno == EINTR);
  if (n == sizeof failure) {
    // The child exits right after reporting; reap it here so it never looks like a session.
    ::waitpid(pid, nullptr, 0);
    return describe_failure(request, plan.user, failure);
  }

  process.pid = pid;
  if (pty) {
    // The agent writes stdin through its own descriptor of the master, so closing stdin never
    // closes the output side.
    process.stdin_writer.reset(::fcntl(pty->master.get(), F_DUPFD_CLOEXEC, 3));
    process.stdout_reader = std::move(pty->master);
  } else {
    if (stdin_pipe) process.stdin_writer = std::move(stdin_pipe->write_end);
    process.stdout_reader = std::move(stdout_pipe->read_end);
    process.stderr_reader = std::move(stderr_pipe->read_end);
  }
  for (const UniqueFd* fd :
       {&process.stdin_writer, &process.stdout_reader, &process.stderr_reader}) {
    if (*fd) set_nonblocking(fd->get());
  }
  return process;
}

}  // namespace matchlock::guest_agent
