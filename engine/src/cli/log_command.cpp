// `matchlock log ID [-f]`: prints a sandbox's logs: the guest console (console.log), the output
// of a detached command (output.log, `run -d`) and the owner's diagnostics (engine.log). -f
// follows appended bytes until the owner process is gone.
#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "core/paths.h"
#include "state/state_store.h"

namespace matchlock::cli {
namespace {

constexpr const char* kLogFiles[] = {"console.log", "output.log", "engine.log"};

// One log file and how much of it has been printed.
struct Followed {
  std::filesystem::path path;
  uint64_t offset = 0;

  // Prints what was appended since last time (from the start again if the file shrank).
  void print_new() {
    std::ifstream in(path, std::ios::binary);
    if (!in) return;
    in.seekg(0, std::ios::end);
    auto size = static_cast<uint64_t>(in.tellg());
    if (size < offset) offset = 0;
    in.seekg(static_cast<std::streamoff>(offset));
    char buf[65536];
    while (in) {
      in.read(buf, sizeof buf);
      auto n = static_cast<size_t>(in.gcount());
      if (n == 0) break;
      std::fwrite(buf, 1, n, stdout);
      offset += n;
    }
    std::fflush(stdout);
  }
};

}  // namespace

int cmd_log(Args args) {
  ArgParser parser("matchlock log [flags] ID",
                   "Print a sandbox's guest console, detached command output and engine log.");
  parser.add_bool("follow", 'f', "keep printing appended output until the sandbox stops");
  auto parsed = parser.parse(args, false);
  if (!parsed.ok()) return fail(parsed.error().message);
  if (parsed->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  if (parsed->positionals.size() != 1) return fail("log: exactly one sandbox id is required");
  const std::string& id = parsed->positionals[0];

  auto store = state::StateStore::open(matchlock_home());
  if (!store.ok()) return fail(store.error().message, 1);
  auto row = (*store)->get_sandbox(id);
  if (!row.ok()) return fail(row.error().message, 1);
  if (!row->has_value()) return fail("no such sandbox: " + id, 1);

  auto dir = sandbox_dir(id);
  std::vector<Followed> files;
  for (const char* name : kLogFiles) files.push_back({dir / name});
  // Watch before the first read, so nothing appended in between is missed.
  int owner = -1, watch = -1;
  if (parsed->flag("follow") && row->value().status == "running") {
    owner =
        static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(row->value().owner_pid), 0));
    watch = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (watch >= 0) ::inotify_add_watch(watch, dir.c_str(), IN_MODIFY | IN_CREATE);
  }
  for (auto& f : files) f.print_new();
  if (owner < 0 || watch < 0) {
    if (owner >= 0) ::close(owner);
    if (watch >= 0) ::close(watch);
    return 0;
  }
  // Woken by appends (inotify) and by the owner's exit (pidfd); no polling interval.
  for (bool gone = false; !gone;) {
    pollfd p[2] = {{watch, POLLIN, 0}, {owner, POLLIN, 0}};
    if (::poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[0].revents) {
      char events[4096];
      while (::read(watch, events, sizeof events) > 0) {
      }
    }
    gone = p[1].revents != 0;
    for (auto& f : files) f.print_new();
  }
  ::close(owner);
  ::close(watch);
  return 0;
}

}  // namespace matchlock::cli
