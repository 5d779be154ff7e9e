#include "core/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/unique_fd.h"

extern char** environ;

namespace matchlock {
namespace {

constexpr size_t kMaxOutput = 64 * 1024;

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
  return not_found(name + " not found on $PATH, /usr/sbin or /sbin");
}

Result<ProcessResult> run_process(const std::vector<std::string>& argv, CaptureStream capture) {
  if (argv.empty()) return invalid_argument("run_process: empty argv");
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0)
    return io_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd rd(pipefd[0]), wr(pipefd[1]);

  SpawnActions actions;
  posix_spawn_file_actions_addopen(&actions.fa, 0, "/dev/null", O_RDONLY, 0);
  const int captured = capture == CaptureStream::kStdout ? 1 : 2;
  posix_spawn_file_actions_addopen(&actions.fa, 3 - captured, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions.fa, wr.get(), captured);

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
    if (out.output.size() < kMaxOutput) out.output.append(buf, static_cast<size_t>(n));
  }
  rd.reset();  // a child still writing gets EPIPE instead of blocking our waitpid
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return io_error("waitpid " + argv[0] + ": " + std::strerror(errno));
  }
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

Status run_tool(const std::string& tool, std::vector<std::string> args) {
  auto path = find_program(tool);
  if (!path) return path.error();
  args.insert(args.begin(), *path);
  auto r = run_process(args);
  if (!r) return r.error();
  if (r->exit_code == 0) return {};
  std::string last = last_line(r->output);
  return io_error(tool + " exited with " + std::to_string(r->exit_code) +
                  (last.empty() ? "" : ": " + last));
}

std::string last_line(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  size_t nl = text.rfind('\n');
  return std::string(nl == std::string_view::npos ? text : text.substr(nl + 1));
}

}  // namespace matchlock
