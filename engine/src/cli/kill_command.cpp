// `matchlock kill ID... | --all`: asks each sandbox's owner to close it over the control
// socket, then waits until the owner process is really gone before printing the id.
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/control_client.h"
#include "core/paths.h"
#include "core/printable.h"
#include "core/process_identity.h"
#include "core/value_parsers.h"

namespace matchlock::cli {
namespace {

// After the close reply, how long the owner gets to exit (it only flushes and returns).
constexpr int kExitGraceMs = 30000;

ArgParser kill_arg_parser() {
  ArgParser p("matchlock kill [flags] ID... | --all",
              "Stop running sandboxes and wait until their owner processes are gone.");
  p.add_bool("all", 'a', "stop every running sandbox")
      .add_value("graceful-shutdown", 0, "DURATION",
                 "let the guest shut down cleanly for this long before a hard stop", "0");
  return p;
}

// Waits until `fd` is readable (EOF or data on a socket) or the deadline passes. True when it
// became readable.
bool wait_readable(int fd, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left));
    if (n < 0 && errno == EINTR) continue;
    return n > 0;
  }
}

// Waits for the owner to be gone: its verified pidfd when we have one, else the socket's EOF.
bool wait_owner_gone(const std::optional<VerifiedProcess>& owner, int sock, int timeout_ms) {
  if (owner) return owner->wait_exit(std::chrono::milliseconds(timeout_ms));
  char buf[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0 || !wait_readable(sock, static_cast<int>(left))) return false;
    ssize_t n = ::recv(sock, buf, sizeof buf, 0);
    if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) return true;
  }
}

Status kill_one(const std::string& id, uint64_t graceful_seconds) {
  auto row = find_running_sandbox(id);
  if (!row.ok()) return row.error();
  // Opened (pid and start time checked) before asking, so a reused pid is never waited on.
  std::optional<VerifiedProcess> owner;
  if (auto v = VerifiedProcess::open(
          {static_cast<pid_t>(row->owner_pid), static_cast<uint64_t>(row->owner_start_time)});
      v.ok()) {
    owner = std::move(*v);
  }
  auto sock = connect_sandbox(id);
  if (!sock.ok()) return sock.error();
  rapidjson::Document params(rapidjson::kObjectType);
  params.AddMember("timeout_seconds", static_cast<uint64_t>(graceful_seconds),
                   params.GetAllocator());
  auto reply = call_blocking(sock->get(), "close", params);
  // An owner that vanished mid-reply is what we wanted anyway; other errors are reported.
  if (!reply.ok() && reply.error().code != ErrorCode::kIo) {
    return Error(reply.error().code, "kill " + id + ": " + reply.error().message);
  }
  int timeout_ms = static_cast<int>(graceful_seconds * 1000 + 2000) + kExitGraceMs;
  if (!wait_owner_gone(owner, sock->get(), timeout_ms)) {
    return Error(ErrorCode::kTimeout, "kill " + id + ": the owner process (pid " +
                                          std::to_string(row->owner_pid) +
                                          ") did not exit in time");
  }
  return {};
}

}  // namespace

int cmd_kill(Args args) {
  auto parser = kill_arg_parser();
  auto parsed = parser.parse(args, false);
  if (!parsed.ok()) return fail(parsed.error().message);
  if (parsed->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  uint64_t graceful = 0;
  if (auto v = parsed->value("graceful-shutdown")) {
    auto t = parse_duration_seconds(*v, "--graceful-shutdown");
    if (!t.ok()) return fail(t.error().message);
    graceful = *t;
  }
  std::vector<std::string> ids = parsed->positionals;
  if (parsed->flag("all")) {
    if (!ids.empty()) return fail("kill: give sandbox ids or --all, not both");
    auto store = state::StateStore::open(matchlock_home());
    if (!store.ok()) return fail(store.error().message, 1);
    auto rows = (*store)->list_sandboxes();
    if (!rows.ok()) return fail(rows.error().message, 1);
    for (const auto& r : *rows) {
      if (r.status == "running") ids.push_back(r.id);
    }
  } else if (ids.empty()) {
    return fail("kill: a sandbox id (or --all) is required");
  }
  int code = 0;
  for (const auto& id : ids) {
    if (auto st = kill_one(id, graceful); !st.ok()) {
      std::fprintf(stderr, "matchlock: %s\n", printable(st.error().message).c_str());
      code = 1;
      continue;
    }
    std::printf("%s\n", id.c_str());
    std::fflush(stdout);
  }
  return code;
}

}  // namespace matchlock::cli
