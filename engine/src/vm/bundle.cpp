#include "vm/bundle.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/unique_fd.h"

extern char** environ;

namespace matchlock::vm {

Result<GuestBundle> locate_bundle() {
  std::filesystem::path dir;
  if (const char* env = std::getenv("MATCHLOCK_BUNDLE"); env && *env) {
    dir = env;
  } else {
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return io_error("cannot find the matchlock binary: " + ec.message());
    dir = exe.parent_path() / "bundle";
  }
  GuestBundle b{dir / "vmlinux", dir / "initramfs.cpio"};
  for (const auto& p : {b.kernel, b.initrd}) {
    if (!std::filesystem::exists(p)) {
      return Error(ErrorCode::kNotFound,
                   "guest bundle file " + p.string() +
                       " is missing (run scripts/setup.sh, or set MATCHLOCK_BUNDLE)");
    }
  }
  return b;
}

Status run_program(const std::vector<std::string>& argv) {
  std::vector<std::string> args = argv;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    return io_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd rd(err_pipe[0]), wr(err_pipe[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
  pid_t pid;
  int rc = posix_spawnp(&pid, cargv[0], &fa, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  wr.reset();
  if (rc != 0) return io_error(argv[0] + ": " + std::strerror(rc));
  std::string err;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(rd.get(), buf, sizeof buf)) > 0) {
    if (err.size() < 65536) err.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
  while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
  auto nl = err.rfind('\n');
  std::string last = nl == std::string::npos ? err : err.substr(nl + 1);
  return io_error(argv[0] + " failed" + (last.empty() ? "" : ": " + last));
}

Status create_upper_disk(const std::filesystem::path& path, uint64_t size_mib) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) return io_error("create " + path.string() + ": " + std::strerror(errno));
  if (::ftruncate(fd.get(), static_cast<off_t>(size_mib) * 1024 * 1024) != 0) {
    return io_error("size " + path.string() + ": " + std::strerror(errno));
  }
  fd.reset();
  // No journal: the upper layer dies with the sandbox, so crash consistency buys nothing.
  return run_program({"mkfs.ext4", "-q", "-F", "-L", "upper", "-O", "^has_journal", "-E",
                      "lazy_itable_init=1,root_owner=0:0", path.string()});
}

}  // namespace matchlock::vm
