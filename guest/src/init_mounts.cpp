#include "init_mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {
namespace {

struct MountSpec {
  const char* source;
  const char* target;
  const char* type;
  unsigned long flags;
  const char* data;
  bool required = true;
};

Status mount_one(const MountSpec& spec) {
  if (!make_dirs(spec.target)) {
    return io_error(std::string("mkdir ") + spec.target + ": " + std::strerror(errno));
  }
  if (::mount(spec.source, spec.target, spec.type, spec.flags, spec.data) != 0 && errno != EBUSY) {
    return io_error(std::string("mount ") + spec.type + " on " + spec.target + ": " +
                    std::strerror(errno));
  }
  return {};
}

void ensure_standard_fds_open() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1) continue;
    int opened = ::open("/dev/console", O_RDWR | O_NOCTTY);
    if (opened < 0) opened = ::open("/dev/null", O_RDWR);
    // open() returns the lowest free fd, which is exactly the missing one.
    if (opened >= 0 && opened != fd) ::close(opened);
  }
}

constexpr unsigned long kNoDevExecSuid = MS_NOSUID | MS_NODEV | MS_NOEXEC;

}  // namespace

Status mount_initramfs_filesystems() {
  const MountSpec specs[] = {
      {"proc", "/proc", "proc", kNoDevExecSuid, nullptr},
      {"sysfs", "/sys", "sysfs", kNoDevExecSuid, nullptr},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
  };
  for (const auto& spec : specs) MATCHLOCK_TRY(mount_one(spec));
  ensure_standard_fds_open();
  return {};
}

Status switch_root(const std::string& new_root) {
  // The initramfs (rootfs) cannot be pivot_root'ed away, so move the new root over "/" and
  // chroot into it, as switch_root(8) does.
  if (::chdir(new_root.c_str()) != 0)
    return io_error("chdir " + new_root + ": " + std::strerror(errno));
  if (::mount(".", "/", nullptr, MS_MOVE, nullptr) != 0) {
    return io_error("move " + new_root + " to /: " + std::strerror(errno));
  }
  if (::chroot(".") != 0) return io_error(std::string("chroot: ") + std::strerror(errno));
  if (::chdir("/") != 0) return io_error(std::string("chdir /: ") + std::strerror(errno));
  return {};
}

Status mount_root_filesystems() {
  const MountSpec specs[] = {
      {"proc", "/proc", "proc", kNoDevExecSuid, nullptr},
      {"sysfs", "/sys", "sysfs", kNoDevExecSuid, nullptr},
      {"devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755"},
      {"devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
       "newinstance,ptmxmode=0666,mode=0620,gid=5"},
      {"shm", "/dev/shm", "tmpfs", kNoDevExecSuid, "mode=1777"},
      {"tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"},
      {"tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755"},
      // Optional: a sandbox without cgroups still runs commands.
      {"cgroup2", "/sys/fs/cgroup", "cgroup2", kNoDevExecSuid, nullptr, false},
  };
  for (const auto& spec : specs) {
    Status status = mount_one(spec);
    if (!status.ok() && spec.required) return status;
    if (!status.ok()) log_line(status.error().message);
  }
  // Point /dev/ptmx at our devpts instance so posix_openpt() (and programs in the sandbox)
  // allocate ptys whose slaves appear under /dev/pts.
  ::unlink("/dev/ptmx");
  if (::symlink("pts/ptmx", "/dev/ptmx") != 0) log_errno("symlink /dev/ptmx");
  return {};
}

}  // namespace matchlock::guest_agent
