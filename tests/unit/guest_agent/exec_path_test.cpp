#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <string>

#include "exec_path.h"

using matchlock::guest_agent::exec_candidates;
using matchlock::guest_agent::ExecProbe;
using matchlock::guest_agent::likely_candidates;
using matchlock::guest_agent::probe_exec_candidate;
using Paths = std::vector<std::string>;

namespace {

// A temporary directory, removed with everything in it.
struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/exec-path-test.XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    path = name;
  }
  ~TempDir() {
    std::string command = "rm -rf '" + path + "'";
    int ignored = std::system(command.c_str());
    (void)ignored;
  }
  std::string file(const std::string& name, mode_t mode) const {
    std::string full = path + "/" + name;
    std::ofstream(full) << "#!/bin/sh\n";
    REQUIRE(::chmod(full.c_str(), mode) == 0);
    return full;
  }
};

}  // namespace

TEST_CASE("exec candidates: a name with a slash is the only candidate") {
  CHECK(exec_candidates("./run.sh", "/bin:/usr/bin") == Paths{"./run.sh"});
  CHECK(exec_candidates("/bin/true", "/usr/bin") == Paths{"/bin/true"});
  CHECK(exec_candidates("", "/bin").empty());
}

TEST_CASE("exec candidates: each PATH entry in order, an empty entry meaning the cwd") {
  CHECK(exec_candidates("ls", "/usr/bin:/bin") == Paths{"/usr/bin/ls", "/bin/ls"});
  CHECK(exec_candidates("ls", ":/bin:") == Paths{"./ls", "/bin/ls", "./ls"});
  CHECK(exec_candidates("ls", "") == Paths{"./ls"});
}

TEST_CASE("likely candidates keep the PATH order and drop only the hopeless ones") {
  auto probe = [](const std::string& path) {
    return path.rfind("/bin/", 0) == 0 || path.rfind("/opt/", 0) == 0 ? ExecProbe::kMaybe
                                                                      : ExecProbe::kHopeless;
  };
  Paths all{"/usr/local/bin/x", "/opt/x", "/usr/bin/x", "/bin/x"};
  CHECK(likely_candidates(all, probe) == Paths{"/opt/x", "/bin/x"});
  CHECK(likely_candidates({"/usr/bin/x", "/sbin/x"}, probe).empty());
  CHECK(likely_candidates({}, probe).empty());
}

TEST_CASE("the probe: only an executable regular file, or what the agent cannot judge, is kept") {
  TempDir dir;
  CHECK(probe_exec_candidate(dir.file("runnable", 0755)) == ExecProbe::kMaybe);
  CHECK(probe_exec_candidate(dir.file("group-only", 0710)) == ExecProbe::kMaybe);
  // execve refuses these for every user: EACCES, which the PATH walk skips.
  CHECK(probe_exec_candidate(dir.file("data", 0644)) == ExecProbe::kHopeless);
  CHECK(probe_exec_candidate(dir.path) == ExecProbe::kHopeless);
  // ENOENT and ENOTDIR, also skipped.
  CHECK(probe_exec_candidate(dir.path + "/missing") == ExecProbe::kHopeless);
  CHECK(probe_exec_candidate(dir.file("plain", 0644) + "/x") == ExecProbe::kHopeless);
  // A symlink is judged by its target; a loop is ELOOP, skipped too.
  std::string link = dir.path + "/link";
  REQUIRE(::symlink((dir.path + "/runnable").c_str(), link.c_str()) == 0);
  CHECK(probe_exec_candidate(link) == ExecProbe::kMaybe);
  std::string loop = dir.path + "/loop";
  REQUIRE(::symlink(loop.c_str(), loop.c_str()) == 0);
  CHECK(probe_exec_candidate(loop) == ExecProbe::kHopeless);
  // Relative paths depend on the child's cwd, which the agent does not share.
  CHECK(probe_exec_candidate("./missing-here") == ExecProbe::kMaybe);
  CHECK(probe_exec_candidate("bin/missing-here") == ExecProbe::kMaybe);
}
