#include "build_root.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>

#include "core/unique_fd.h"
#include "disks.h"
#include "file_ops.h"
#include "fs_util.h"

namespace matchlock::guest_agent {
namespace {

constexpr const char* kStorageRoot = "/run/matchlock-build";
constexpr auto kDiskWait = std::chrono::seconds(5);
// mount(2) copies at most one page of options; overlayfs on this kernel takes every lower dir
// in that one string (lowerdir+ came later).
constexpr size_t kMaxMountOptions = 4095;
// Options that keep the upper dir a plain diff of the lowers (no index, no redirect or metacopy
// xattrs that only this mount could interpret). Dropped if the kernel refuses them.
constexpr const char* kCleanDiffOptions = ",index=off,redirect_dir=off,metacopy=off";
constexpr unsigned long kNoDevExecSuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;

// Files bound from the guest's root into every build root, as docker provides them to RUN.
constexpr const char* kGuestFiles[] = {"etc/resolv.conf", "etc/hosts", "etc/hostname"};

pid_t g_signal_target = 0;  // read by the forwarding handler; set before it is installed

void forward_signal(int signo) {
  ::kill(g_signal_target, signo);
}

Status mount_ext4_once(const std::string& serial, const std::string& target, unsigned long flags) {
  auto device = wait_for_disk(serial, kDiskWait);
  if (!device) return io_error("build storage: no " + serial + " disk");
  if (!make_dirs(target)) return io_error("mkdir " + target + ": " + std::strerror(errno));
  if (::mount(device->c_str(), target.c_str(), "ext4", flags, nullptr) != 0) {
    return io_error("mount " + *device + " on " + target + ": " + std::strerror(errno));
  }
  return {};
}

// Builds the new root step by step, recording what it had to create in the new layer.
class RootBuilder {
 public:
  RootBuilder(const std::string& root, int upper_fd) : root_(root), upper_fd_(upper_fd) {}

  std::optional<BuildRootFailure> mount_filesystems() {
    if (auto failed = mount_at("proc", true, "proc", "proc", kNoDevExecSuid, nullptr)) {
      return failed;
    }
    if (auto failed =
            mount_at("sys", true, "sysfs", "sysfs", kNoDevExecSuid | MS_RDONLY, nullptr)) {
      return failed;
    }
    if (auto failed = mount_at("dev", true, "/dev", nullptr, MS_BIND | MS_REC, nullptr)) {
      return failed;
    }
    // Its own /dev/shm: shared memory must not be shared with the rest of the guest.
    // (/dev/pts stays the guest's, so a tty exec's terminal is there by name.)
    struct stat st {};
    if (::lstat((root_ + "/dev/shm").c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      if (auto failed = mount_at("dev/shm", true, "shm", "tmpfs", kNoDevExecSuid, "mode=1777")) {
        return failed;
      }
    }
    for (const char* file : kGuestFiles) {
      struct stat source {};
      if (::stat((std::string("/") + file).c_str(), &source) != 0 || !S_ISREG(source.st_mode)) {
        continue;
      }
      // A symlink in the image (resolv.conf -> /run/...) would be followed outside the root.
      if (!ensure_entry("etc", true) || !ensure_entry(file, false)) continue;
      if (auto failed =
              mount_at(file, false, (std::string("/") + file).c_str(), nullptr, MS_BIND, nullptr)) {
        return failed;
      }
    }
    return std::nullopt;
  }

  std::vector<std::string> take_created() { return std::move(created_); }

 private:
  // Makes sure `rel` exists in the new root as a directory or file that is not a symlink.
  // What it creates is recorded, and so is the parent dir that creating it copied up.
  bool ensure_entry(const std::string& rel, bool directory) {
    const std::string path = root_ + "/" + rel;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
      return directory ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode);
    }
    if (errno != ENOENT) return false;
    const std::string parent =
        rel.find('/') == std::string::npos ? "" : parent_of("/" + rel).substr(1);
    const bool parent_in_upper =
        parent.empty() || ::faccessat(upper_fd_, parent.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) == 0;
    bool made = directory
                    ? ::mkdir(path.c_str(), 0755) == 0
                    : UniqueFd(::open(path.c_str(),
                                      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644))
                          .valid();
    if (!made) return false;
    if (!parent_in_upper) created_.push_back(parent);
    created_.push_back(rel);
    return true;
  }

  std::optional<BuildRootFailure> mount_at(const std::string& rel, bool directory,
                                           const char* source, const char* type,
                                           unsigned long flags, const char* data) {
    const std::string target = root_ + "/" + rel;
    if (!ensure_entry(rel, directory))
      return BuildRootFailure{"create /" + rel, errno ? errno : EEXIST};
    if (::mount(source, target.c_str(), type, flags & ~MS_RDONLY, data) != 0) {
      return BuildRootFailure{"mount /" + rel, errno};
    }
    // Read-only for this mount only: sysfs has one superblock, the guest's /sys stays rw.
    if ((flags & MS_RDONLY) && ::mount(nullptr, target.c_str(), nullptr,
                                       MS_REMOUNT | MS_BIND | (flags & ~MS_REC), nullptr) != 0) {
      return BuildRootFailure{"remount /" + rel + " read-only", errno};
    }
    return std::nullopt;
  }

  std::string root_;
  int upper_fd_;
  std::vector<std::string> created_;
};

std::string overlay_options(const BuildRoot& root, const BuildStorage& storage) {
  // Relative to the layers dir (our cwd while mounting): keeps 200 short ids within a page.
  std::string lower;
  for (const auto& id : root.lower) lower += id + ":";
  lower += storage.base_dir;
  return "lowerdir=" + lower + ",upperdir=" + root.upper + ",workdir=" + storage.work_dir + "/" +
         root.upper;
}

// Files first, then directories once they are empty: a directory the command filled stays.
void remove_created(int upper_fd, const std::vector<std::string>& created) {
  for (auto it = created.rbegin(); it != created.rend(); ++it) {
    if (::unlinkat(upper_fd, it->c_str(), 0) != 0 && errno == EISDIR) {
      ::unlinkat(upper_fd, it->c_str(), AT_REMOVEDIR);
    }
  }
}

}  // namespace

Result<BuildStorage> ensure_build_storage() {
  static std::optional<BuildStorage> storage;
  if (storage) return *storage;
  const std::string root = kStorageRoot;
  BuildStorage paths{root + "/disk/build/layers", root + "/disk/build/work", root + "/base",
                     root + "/root"};
  MATCHLOCK_TRY(mount_ext4_once("upper", root + "/disk", MS_NOATIME));
  MATCHLOCK_TRY(mount_ext4_once("base", paths.base_dir, MS_RDONLY));
  for (const auto& dir : {paths.layers_dir, paths.work_dir, paths.mount_point}) {
    if (!make_dirs(dir, 0700)) return io_error("mkdir " + dir + ": " + std::strerror(errno));
  }
  storage = paths;
  return paths;
}

std::variant<PreparedBuildRoot, BuildRootFailure> enter_build_root(const BuildRoot& root,
                                                                   const BuildStorage& storage) {
  // Nothing mounted from here on may reach the guest's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return BuildRootFailure{"make mounts private", errno};
  }
  UniqueFd layers(
      ::open(storage.layers_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!layers) return BuildRootFailure{"open " + storage.layers_dir, errno};
  if (::mkdirat(layers.get(), root.upper.c_str(), 0755) != 0) {
    return BuildRootFailure{"create layer " + root.upper, errno};
  }
  for (const auto& id : root.lower) {
    if (::faccessat(layers.get(), id.c_str(), F_OK, AT_SYMLINK_NOFOLLOW) != 0) {
      return BuildRootFailure{"layer " + id, errno};
    }
  }
  const std::string work = storage.work_dir + "/" + root.upper;
  (void)remove_path(work, true);  // left over from an earlier use of the id
  if (::mkdir(work.c_str(), 0700) != 0) return BuildRootFailure{"create " + work, errno};

  const std::string options = overlay_options(root, storage);
  if (options.size() + std::strlen(kCleanDiffOptions) > kMaxMountOptions) {
    return BuildRootFailure{"mount overlay (too many lower layers for one mount)", E2BIG};
  }
  if (::fchdir(layers.get()) != 0) return BuildRootFailure{"chdir " + storage.layers_dir, errno};
  const char* target = storage.mount_point.c_str();
  if (::mount("overlay", target, "overlay", 0, (options + kCleanDiffOptions).c_str()) != 0 &&
      (errno != EINVAL || ::mount("overlay", target, "overlay", 0, options.c_str()) != 0)) {
    return BuildRootFailure{"mount overlay on " + storage.mount_point, errno};
  }

  PreparedBuildRoot prepared;
  UniqueFd upper(
      ::openat(layers.get(), root.upper.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!upper) return BuildRootFailure{"open layer " + root.upper, errno};
  RootBuilder builder(storage.mount_point, upper.get());
  auto failed = builder.mount_filesystems();
  prepared.created = builder.take_created();
  if (failed) {
    remove_created(upper.get(), prepared.created);
    return *failed;
  }
  if (::chdir(target) != 0) return BuildRootFailure{"chdir " + storage.mount_point, errno};
  if (::chroot(".") != 0) return BuildRootFailure{"chroot", errno};
  if (::chdir("/") != 0) return BuildRootFailure{"chdir /", errno};
  prepared.upper_fd = upper.release();
  return prepared;
}

pid_t fork_into_build_namespaces() {
  // Like fork(), but the child starts new mount and pid namespaces (it is their pid 1), so
  // the agent's signals reach it directly and its exit ends every process it started. The
  // agent is single-threaded, so skipping glibc's fork handlers is safe.
  return static_cast<pid_t>(
      ::syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, 0));
}

int become_build_command(bool tty) {
  if (::setpgid(0, 0) != 0) return errno;
  if (!tty) return 0;
  // Taking the terminal's foreground from a background group: SIGTTOU must be blocked.
  sigset_t ttou, old;
  sigemptyset(&ttou);
  sigaddset(&ttou, SIGTTOU);
  ::sigprocmask(SIG_BLOCK, &ttou, &old);
  int result = ::tcsetpgrp(0, ::getpid()) == 0 ? 0 : errno;
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  return result;
}

void supervise_build_command(pid_t command, bool tty, PreparedBuildRoot& root) {
  // Signals from outside the namespace reach its pid 1 only when it handles them: pass them
  // on as the agent would have sent them (to the process alone on a tty, else to its group).
  g_signal_target = tty ? command : -command;
  struct sigaction action {};
  action.sa_handler = forward_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP || signo == SIGCHLD) continue;
    ::sigaction(signo, &action, nullptr);
  }
  int command_status = 0;
  bool command_done = false;
  while (true) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;  // ECHILD: the namespace is empty
    }
    if (pid == command) {
      command_status = status;
      command_done = true;
    }
    // Daemons the command left behind are not part of the step: end them (again, in case one
    // forked meanwhile).
    if (command_done) ::kill(-1, SIGKILL);
  }
  remove_created(root.upper_fd, root.created);
  ::close(root.upper_fd);
  ::_exit(WIFSIGNALED(command_status) ? 128 + WTERMSIG(command_status)
                                      : WEXITSTATUS(command_status));
}

Status drop_layer(const BuildStorage& storage, const std::string& id) {
  for (const auto& dir : {storage.layers_dir, storage.work_dir}) {
    auto failed = remove_path(dir + "/" + id, true);
    if (failed && failed->error != ENOENT) return io_error(failed->message());
  }
  return {};
}

}  // namespace matchlock::guest_agent
