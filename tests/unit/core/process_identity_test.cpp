#include "core/process_identity.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>

using matchlock::ErrorCode;
using matchlock::parse_proc_stat;
using matchlock::ProcessIdentity;
using matchlock::read_proc_stat;
using matchlock::VerifiedProcess;
using namespace std::chrono_literals;

namespace {

// A /proc/<pid>/stat line with the given comm, state and start time (field 22); the other
// numeric fields are filler. 52 fields, as on current kernels.
std::string stat_line(const std::string& comm, char state, const std::string& start_time) {
  std::string s = "4242 (" + comm + ") " + state;
  for (int field = 4; field <= 52; ++field) {
    s += " " + (field == 22 ? start_time : std::to_string(field * 11));
  }
  return s + "\n";
}

// A child process that stays alive (blocked reading a pipe) until killed, with a chosen name.
struct Child {
  pid_t pid = -1;
  bool reaped = false;

  explicit Child(const char* name = nullptr) {
    int ready[2], hold[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(hold) == 0);
    pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      if (name) ::prctl(PR_SET_NAME, name);
      ::close(ready[0]);
      ::close(hold[1]);
      char c = 'r';
      (void)!::write(ready[1], &c, 1);
      (void)!::read(hold[0], &c, 1);  // never returns: the parent keeps the write end open
      ::_exit(0);
    }
    ::close(ready[1]);
    ::close(hold[0]);
    hold_fd = hold[1];
    char c;
    REQUIRE(::read(ready[0], &c, 1) == 1);  // the name is set once the child says so
    ::close(ready[0]);
  }
  void reap() {
    int status;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    reaped = true;
  }
  ~Child() {
    if (!reaped) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
    ::close(hold_fd);
  }
  int hold_fd = -1;
};

}  // namespace

TEST_CASE("proc stat parser reads state and start time", "[core][process_identity]") {
  auto st = parse_proc_stat(stat_line("bash", 'S', "987654"));
  REQUIRE(st.ok());
  CHECK(st->state == 'S');
  CHECK(st->start_time == 987654u);
}

TEST_CASE("proc stat parser survives awkward comm names", "[core][process_identity]") {
  // Each name would shift the fields for a parser that splits on spaces or stops at the
  // first ')'.
  for (const std::string comm : {"my prog", "a) b", ") R 1 2 3 4", "((x))", "", "  ", "x)(y"}) {
    INFO("comm = \"" << comm << "\"");
    auto st = parse_proc_stat(stat_line(comm, 'R', "31337"));
    REQUIRE(st.ok());
    CHECK(st->state == 'R');
    CHECK(st->start_time == 31337u);
  }
}

TEST_CASE("proc stat parser rejects malformed text", "[core][process_identity]") {
  CHECK_FALSE(parse_proc_stat("").ok());
  CHECK_FALSE(parse_proc_stat("4242 bash S 1 2 3").ok());            // no parentheses
  CHECK_FALSE(parse_proc_stat("4242 (bash) S 1 2 3\n").ok());        // too few fields
  CHECK_FALSE(parse_proc_stat(stat_line("bash", 'S', "12x")).ok());  // not a number
  CHECK_FALSE(parse_proc_stat(stat_line("bash", 'S', "-5")).ok());   // negative
  CHECK_FALSE(parse_proc_stat("4242 (bash) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20")
                  .ok());  // a state is one letter
}

TEST_CASE("reading our own stat works; pid 0 and a free pid are not found",
          "[core][process_identity]") {
  auto self = read_proc_stat(::getpid());
  REQUIRE(self.ok());
  CHECK(self->start_time > 0);
  auto zero = read_proc_stat(0);
  REQUIRE_FALSE(zero.ok());
  CHECK(zero.error().code == ErrorCode::kNotFound);
  Child child;
  const pid_t gone = child.pid;
  ::kill(gone, SIGKILL);
  child.reap();
  auto missing = read_proc_stat(gone);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
}

TEST_CASE("a real process with an awkward name parses", "[core][process_identity]") {
  Child child("a) b (c) d");
  auto st = read_proc_stat(child.pid);
  REQUIRE(st.ok());
  CHECK(st->start_time == ProcessIdentity::of(child.pid)->start_time);
  CHECK(st->start_time >= read_proc_stat(::getpid())->start_time);
}

TEST_CASE("identity holds while the process runs and ends when it dies",
          "[core][process_identity]") {
  Child child;
  auto id = ProcessIdentity::of(child.pid);
  REQUIRE(id.has_value());
  CHECK(id->is_running());

  // The same pid with another start time is another process: never "still running".
  ProcessIdentity other{child.pid, id->start_time + 1};
  CHECK_FALSE(other.is_running());
  // An unknown start time never verifies.
  CHECK_FALSE(ProcessIdentity{child.pid, 0}.is_running());

  ::kill(child.pid, SIGKILL);
  auto proc = VerifiedProcess::open(*id);
  // Killed but not reaped: a zombie, which is not running (it may or may not have died yet).
  if (proc.ok() && proc->has_value()) CHECK((*proc)->wait_exit(5s));
  CHECK_FALSE(id->is_running());
  child.reap();
  CHECK_FALSE(id->is_running());
  CHECK_FALSE(ProcessIdentity::of(child.pid).has_value());
}

TEST_CASE("a verified process is not opened for a mismatching start time",
          "[core][process_identity]") {
  Child child;
  auto id = ProcessIdentity::of(child.pid);
  REQUIRE(id.has_value());
  auto wrong = VerifiedProcess::open({child.pid, id->start_time + 1});
  REQUIRE(wrong.ok());
  CHECK_FALSE(wrong->has_value());
  auto right = VerifiedProcess::open(*id);
  REQUIRE(right.ok());
  REQUIRE(right->has_value());

  const auto before = std::chrono::steady_clock::now();
  CHECK_FALSE((*right)->wait_exit(100ms));  // alive: the wait times out
  CHECK(std::chrono::steady_clock::now() - before >= 100ms);

  REQUIRE((*right)->signal(SIGKILL).ok());
  CHECK((*right)->wait_exit(5s));
  child.reap();
  // Signalling a reaped process through its pidfd is harmless.
  CHECK((*right)->signal(SIGKILL).ok());
}
