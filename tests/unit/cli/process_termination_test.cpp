#include "cli/process_termination.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>

using matchlock::ProcessIdentity;
using matchlock::cli::kill_verified;
using matchlock::cli::terminate_verified;
using matchlock::cli::Termination;
using matchlock::cli::TerminationTimeouts;
using namespace std::chrono_literals;

namespace {

// A child that blocks until killed; with ignore_term it survives SIGTERM. The parent returns
// once the child's signal disposition is in place.
struct Child {
  pid_t pid = -1;
  explicit Child(bool ignore_term) {
    int ready[2];
    REQUIRE(::pipe(ready) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // The test runner's own SIGTERM handler came along with fork(): replace it.
      ::signal(SIGTERM, ignore_term ? SIG_IGN : SIG_DFL);
      char c = 'r';
      (void)!::write(ready[1], &c, 1);
      for (;;) ::pause();
    }
    ::close(ready[1]);
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);
    ::close(ready[0]);
  }
  // The signal that ended the child; 0 if it is still alive (it is then killed).
  int reap() {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return 0;
    }
    pid = -1;
    return WIFSIGNALED(status) ? WTERMSIG(status) : -1;
  }
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

TerminationTimeouts quick() {
  return {200ms, 5000ms};
}

}  // namespace

TEST_CASE("terminate stops a process that obeys SIGTERM", "[cli][termination]") {
  Child child(false);
  auto t = terminate_verified(*ProcessIdentity::of(child.pid), quick());
  REQUIRE(t.ok());
  CHECK(*t == Termination::kExitedOnTerm);
  CHECK(child.reap() == SIGTERM);
}

TEST_CASE("terminate escalates to SIGKILL after the grace period", "[cli][termination]") {
  Child child(true);
  const auto before = std::chrono::steady_clock::now();
  auto t = terminate_verified(*ProcessIdentity::of(child.pid), quick());
  REQUIRE(t.ok());
  CHECK(*t == Termination::kKilled);
  CHECK(std::chrono::steady_clock::now() - before >= 200ms);
  CHECK(child.reap() == SIGKILL);
}

TEST_CASE("terminate never signals a pid whose start time does not match", "[cli][termination]") {
  Child child(false);
  auto id = *ProcessIdentity::of(child.pid);
  id.start_time += 1;  // as if the pid had been recycled
  auto t = terminate_verified(id, quick());
  REQUIRE(t.ok());
  CHECK(*t == Termination::kNotRunning);
  auto k = kill_verified(id, 1000ms);
  REQUIRE(k.ok());
  CHECK(*k == Termination::kNotRunning);
  CHECK(child.reap() == 0);  // still alive until now
}

TEST_CASE("kill_verified kills at once, and a gone process is nothing to do",
          "[cli][termination]") {
  Child child(true);
  const auto id = *ProcessIdentity::of(child.pid);
  auto k = kill_verified(id, 5000ms);
  REQUIRE(k.ok());
  CHECK(*k == Termination::kKilled);
  CHECK(child.reap() == SIGKILL);
  auto again = kill_verified(id, 5000ms);
  REQUIRE(again.ok());
  CHECK(*again == Termination::kNotRunning);
}
