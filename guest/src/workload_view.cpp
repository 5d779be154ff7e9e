#include "workload_view.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "core/text_lines.h"
#include "fs_util.h"
#include "pipe.h"

namespace matchlock::guest_agent {
namespace {

// mountinfo escapes space, tab, newline and backslash as a backslash and three octal digits.
std::string unescape_mountinfo(std::string_view field) {
  auto octal = [&](size_t k) { return field[k] >= '0' && field[k] <= '7'; };
  std::string out;
  for (size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 4 <= field.size() && octal(i + 1) && octal(i + 2) && octal(i + 3)) {
      out.push_back(static_cast<char>(((field[i + 1] - '0') << 6) | ((field[i + 2] - '0') << 3) |
                                      (field[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(field[i]);
  }
  return out;
}

// The fifth space-separated field of a mountinfo line (the mount point), or "" if it has fewer.
std::string_view mount_point_field(std::string_view line) {
  for (int skip = 0; skip < 4; ++skip) {
    size_t space = line.find(' ');
    if (space == std::string_view::npos) return {};
    line.remove_prefix(space + 1);
  }
  return line.substr(0, line.find(' '));
}

// Makes the mount at `path` read-only in this namespace, keeping its other per-mount flags
// (a bind remount replaces them all).
int remount_read_only(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return errno;
  unsigned long flags = MS_REMOUNT | MS_BIND | MS_RDONLY;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NODEV) flags |= MS_NODEV;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return ::mount(nullptr, path.c_str(), nullptr, flags, nullptr) == 0 ? 0 : errno;
}

}  // namespace

std::vector<std::string> mount_points_below(std::string_view mountinfo, std::string_view top) {
  std::vector<std::string> points;
  TextLines lines(mountinfo);
  std::string_view line;
  while (lines.next(line)) {
    // Fields: id parent major:minor root mount-point options ...
    std::string_view field = mount_point_field(line);
    if (field.empty()) continue;
    std::string point = unescape_mountinfo(field);
    if (point == top || (point.size() > top.size() && point.compare(0, top.size(), top) == 0 &&
                         point[top.size()] == '/')) {
      points.push_back(std::move(point));
    }
  }
  return points;
}

int enter_workload_view(std::string& failed_path) {
  failed_path = "mount namespace";
  if (::unshare(CLONE_NEWNS) != 0) return errno;
  // Nothing mounted or remounted below may reach the agent's namespace.
  failed_path = "/";
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) return errno;
  auto mountinfo = read_file("/proc/self/mountinfo");
  if (!mountinfo) {
    failed_path = "/proc/self/mountinfo";
    return ENOENT;
  }
  for (const auto& point : mount_points_below(*mountinfo, "/sys")) {
    failed_path = point;
    if (int error = remount_read_only(point)) return error;
  }
  // Single files and directories of procfs: bound onto themselves to get a mount to make
  // read-only. A root without them (a build step's scratch root) has nothing to protect there.
  for (const char* path : {"/proc/sys", "/proc/sysrq-trigger"}) {
    failed_path = path;
    if (::access(path, F_OK) != 0) continue;
    if (::mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
    if (int error = remount_read_only(path)) return error;
  }
  failed_path.clear();
  return 0;
}

Result<WorkloadView> WorkloadView::create() {
  // Shared, so that the agent's later mounts propagate into the view (its slave).
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_SHARED, nullptr) != 0) {
    return io_error(std::string("make / shared: ") + std::strerror(errno));
  }
  auto report = make_pipe();
  if (!report) return io_error(std::string("pipe: ") + std::strerror(errno));
  // The child's report: its errno value (0: the view is made), then the mount that failed.
  struct Report {
    int error;
    char failed_path[252];
  };
  pid_t pid = ::fork();
  if (pid < 0) return io_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // The child only builds the namespace and holds it until the parent has opened it.
    std::string failed;
    Report r{enter_workload_view(failed), {}};
    std::strncpy(r.failed_path, failed.c_str(), sizeof r.failed_path - 1);
    (void)!::write(report->write_end.get(), &r, sizeof r);
    if (r.error == 0) ::pause();  // killed by the parent
    ::_exit(1);
  }
  report->write_end.reset();
  Report r{};
  ssize_t n;
  do {
    n = ::read(report->read_end.get(), &r, sizeof r);
  } while (n < 0 && errno == EINTR);
  std::string failure;
  if (n != static_cast<ssize_t>(sizeof r)) {
    failure = "the process making it ended without reporting";
  } else if (r.error != 0) {
    r.failed_path[sizeof r.failed_path - 1] = '\0';
    failure = std::string(r.failed_path) + ": " + std::strerror(r.error);
  }
  UniqueFd ns;
  if (failure.empty()) {
    ns.reset(::open(("/proc/" + std::to_string(pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) failure = "open its namespace: " + std::string(std::strerror(errno));
  }
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
  if (!failure.empty()) return io_error("the workload's view: " + failure);
  return WorkloadView(std::move(ns));
}

int join_workload_view(int view_fd) {
  return ::setns(view_fd, CLONE_NEWNS) == 0 ? 0 : errno;
}

}  // namespace matchlock::guest_agent
