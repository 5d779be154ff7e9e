#include "cli/host_checks.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/unique_fd.h"
#include "image/subprocess.h"

extern char** environ;

namespace matchlock::cli {
namespace {

constexpr const char* kQemuBinary = "qemu-system-x86_64";  // as vm/qemu_command.h runs it
constexpr const char* kKvmDevice = "/dev/kvm";
constexpr size_t kMaxOutput = 4096;  // a version banner; the rest is not read

bool parse_int(std::string_view& s, int& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc()) return false;
  s.remove_prefix(static_cast<size_t>(ptr - s.data()));
  return true;
}

bool user_in_group(const HostUser& user, gid_t group) {
  if (user.gid == group) return true;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<size_t>(count));
  for (gid_t g : groups) {
    if (g == group) return true;
  }
  return false;
}

}  // namespace

std::optional<QemuVersion> parse_qemu_version(std::string_view line) {
  constexpr std::string_view kMarker = "version ";
  const size_t at = line.find(kMarker);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view s = line.substr(at + kMarker.size());
  QemuVersion v;
  if (!parse_int(s, v.major) || s.empty() || s[0] != '.') return std::nullopt;
  s.remove_prefix(1);
  if (!parse_int(s, v.minor)) return std::nullopt;
  if (!s.empty() && s[0] == '.') {
    s.remove_prefix(1);
    if (!parse_int(s, v.micro)) return std::nullopt;
  }
  return v;
}

Result<std::string> first_output_line(const std::vector<std::string>& argv) {
  if (argv.empty()) return invalid_argument("first_output_line: empty argv");
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return io_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd rd(fds[0]), wr(fds[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return io_error("run " + argv[0] + ": " + std::strerror(rc));
  wr.reset();

  std::string out;
  char buf[512];
  for (;;) {
    const ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.size() < kMaxOutput) out.append(buf, static_cast<size_t>(n));
  }
  rd.reset();  // a chatty child gets EPIPE instead of blocking us in waitpid
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return out.substr(0, out.find('\n'));
}

std::optional<QemuInstall> find_qemu() {
  auto path = image::find_program(kQemuBinary);
  if (!path.ok()) return std::nullopt;
  QemuInstall q;
  q.path = *path;
  if (auto line = first_output_line({q.path, "--version"}); line.ok()) {
    q.version_line = *line;
    q.version = parse_qemu_version(q.version_line);
  }
  return q;
}

HostUser invoking_user() {
  HostUser u;
  const char* sudo_user = ::geteuid() == 0 ? std::getenv("SUDO_USER") : nullptr;
  const passwd* pw = sudo_user && *sudo_user ? ::getpwnam(sudo_user) : ::getpwuid(::geteuid());
  if (pw) {
    u.name = pw->pw_name;
    u.uid = pw->pw_uid;
    u.gid = pw->pw_gid;
  } else {
    u.name = std::to_string(::geteuid());
    u.uid = ::geteuid();
    u.gid = ::getegid();
  }
  return u;
}

KvmAccess kvm_access_for(const HostUser& user) {
  KvmAccess a;
  struct stat st {};
  if (::stat(kKvmDevice, &st) != 0) return a;
  a.exists = true;
  if (const group* g = ::getgrgid(st.st_gid)) a.group = g->gr_name;
  a.group_has_rw = (st.st_mode & 060) == 060;
  const bool other_rw = (st.st_mode & 06) == 06;
  const bool owner_rw = st.st_uid == user.uid && (st.st_mode & 0600) == 0600;
  const bool group_rw = a.group_has_rw && user_in_group(user, st.st_gid);
  a.usable = user.uid == 0 || owner_rw || group_rw || other_rw;
  return a;
}

}  // namespace matchlock::cli
