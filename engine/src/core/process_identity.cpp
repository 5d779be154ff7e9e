#include "core/process_identity.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

namespace matchlock {
namespace {

// /proc/<pid>/stat is one line well under 1 KiB; the comm field is at most 64 bytes.
constexpr size_t kMaxStatBytes = 4096;
// Field numbers as in proc(5); field 3 (state) is the first one after the comm field.
constexpr int kStateField = 3;
constexpr int kStartTimeField = 22;
// Used only where pidfds are unavailable (kernels before 5.3).
constexpr std::chrono::milliseconds kIdentityPollInterval{20};

int pidfd_open(pid_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

int pidfd_send_signal(int pidfd, int signo) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, signo, nullptr, 0));
}

bool is_dead_state(char state) {
  return state == 'Z' || state == 'X' || state == 'x';
}

}  // namespace

Result<ProcStat> parse_proc_stat(std::string_view text) {
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return invalid_argument("proc stat: no (comm) field");
  }
  ProcStat out;
  std::string_view rest = text.substr(close + 1);
  int field = kStateField;
  while (field <= kStartTimeField) {
    const size_t begin = rest.find_first_not_of(' ');
    if (begin == std::string_view::npos) break;
    rest.remove_prefix(begin);
    const size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    const std::string_view word = rest.substr(0, end);
    if (field == kStateField) {
      if (word.size() != 1) return invalid_argument("proc stat: bad state field");
      out.state = word[0];
    } else if (field == kStartTimeField) {
      auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), out.start_time);
      if (ec != std::errc() || ptr != word.data() + word.size()) {
        return invalid_argument("proc stat: bad start time field");
      }
      return out;
    }
    rest.remove_prefix(end);
    ++field;
  }
  return invalid_argument("proc stat: too few fields");
}

Result<ProcStat> read_proc_stat(pid_t pid) {
  if (pid <= 0) return not_found("no process " + std::to_string(pid));
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT || errno == ESRCH) return not_found("no process " + std::to_string(pid));
    return io_error(path + ": " + std::strerror(errno));
  }
  std::string text(kMaxStatBytes, '\0');
  size_t used = 0;
  while (used < text.size()) {
    const ssize_t n = ::read(fd.get(), text.data() + used, text.size() - used);
    if (n < 0 && errno == EINTR) continue;
    // A process that exits between open and read answers ESRCH.
    if (n < 0 && errno == ESRCH) return not_found("no process " + std::to_string(pid));
    if (n < 0) return io_error(path + ": " + std::strerror(errno));
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  text.resize(used);
  auto parsed = parse_proc_stat(text);
  if (!parsed.ok()) return parsed.error().with_context(path);
  return parsed;
}

std::optional<ProcessIdentity> ProcessIdentity::of(pid_t pid) {
  auto stat = read_proc_stat(pid);
  if (!stat.ok() || is_dead_state(stat->state)) return std::nullopt;
  return ProcessIdentity{pid, stat->start_time};
}

bool ProcessIdentity::is_running() const {
  if (pid <= 0 || start_time == 0) return false;
  auto stat = read_proc_stat(pid);
  return stat.ok() && !is_dead_state(stat->state) && stat->start_time == start_time;
}

Result<std::optional<VerifiedProcess>> VerifiedProcess::open(const ProcessIdentity& id) {
  if (id.pid <= 0 || id.start_time == 0) return std::optional<VerifiedProcess>();
  UniqueFd pidfd(pidfd_open(id.pid));
  if (!pidfd) {
    if (errno == ESRCH) return std::optional<VerifiedProcess>();
    if (errno != ENOSYS) {
      return io_error("pidfd_open " + std::to_string(id.pid) + ": " + std::strerror(errno));
    }
  }
  // Checked after the pidfd exists: if the identity matches now, the pidfd is that process.
  if (!id.is_running()) return std::optional<VerifiedProcess>();
  return std::optional<VerifiedProcess>(VerifiedProcess(id, std::move(pidfd)));
}

Status VerifiedProcess::signal(int signo) const {
  int rc;
  if (pidfd_) {
    rc = pidfd_send_signal(pidfd_.get(), signo);
  } else {
    // No pidfd on this kernel: re-verify right before kill(); the window is microseconds.
    if (!id_.is_running()) return {};
    rc = ::kill(id_.pid, signo);
  }
  if (rc != 0 && errno != ESRCH) {
    return io_error("signal " + std::to_string(signo) + " to pid " + std::to_string(id_.pid) +
                    ": " + std::strerror(errno));
  }
  return {};
}

bool VerifiedProcess::wait_exit(std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // Rounded up: a wait must never end before `timeout` has passed.
    const auto left = std::max(
        std::chrono::milliseconds(0),
        std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
    if (pidfd_) {
      // A pidfd polls readable once the process has exited, reaped or not.
      pollfd p{pidfd_.get(), POLLIN, 0};
      const int rc = ::poll(&p, 1, static_cast<int>(left.count()));
      if (rc > 0) return true;
      if (rc < 0 && errno != EINTR) return !id_.is_running();
    } else {
      if (!id_.is_running()) return true;
      std::this_thread::sleep_for(std::min(left, kIdentityPollInterval));
    }
    if (left.count() == 0) return !id_.is_running();
  }
}

}  // namespace matchlock
