#include "image/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/unique_fd.h"

extern char** environ;

namespace matchlock::image {
namespace {

constexpr size_t kMaxStderr = 64 * 1024;

struct SpawnActions {
  posix_spawn_file_actions_t fa;
  SpawnActions() { posix_spawn_file_actions_init(&fa); }
  ~SpawnActions() { posix_spawn_file_actions_destroy(&fa); }
  SpawnActions(const SpawnActions&) = delete;
  SpawnActions& operator=(const SpawnActions&) = delete;
};

}  // namespace

Result<std::string> find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string dir = path.substr(i, j - i);
    if (!dir.empty()) {
      std::string cand = dir + "/" + name;
      if (::access(cand.c_str(), X_OK) == 0) return cand;
    }
    i = j + 1;
  }
  return not_found(name + " not found (install e2fsprogs)");
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv) {
  if (argv.empty()) return invalid_argument("run_process: empty argv");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return io_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);

  SpawnActions actions;
  posix_spawn_file_actions_addopen(&actions.fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions.fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions.fa, wr.get(), 2);

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, argv[0].c_str(), &actions.fa, nullptr, cargv.data(), environ);
  if (rc != 0) return io_error("spawn " + argv[0] + ": " + std::strerror(rc));
  wr.reset();

  ProcessResult out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out.stderr_text.size() < kMaxStderr) out.stderr_text.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return io_error("waitpid " + argv[0] + ": " + std::strerror(errno));
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace matchlock::image
