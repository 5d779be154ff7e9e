#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "temp_dir.h"
#include "vm/passed_files.h"
#include "vm/qemu_confinement.h"

using matchlock::testing::TempDir;

using namespace matchlock;
using namespace matchlock::vm;

namespace {

// Runs confine_this_process in a forked child and returns what the child found afterwards, one
// bit per property that did not hold (0: all held); 255 if confining failed.
int confine_in_child(const Confinement& c) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const char* step = nullptr;
    if (!confine_this_process(c, &step)) _exit(255);
    int wrong = 0;
    rlimit r{};
    ::getrlimit(RLIMIT_CORE, &r);
    if (r.rlim_cur != 0 || r.rlim_max != 0) wrong |= 1;
    ::getrlimit(RLIMIT_NOFILE, &r);
    if (r.rlim_max != kQemuMaxOpenFiles) wrong |= 2;
    ::getrlimit(RLIMIT_FSIZE, &r);
    if (r.rlim_max != c.max_file_bytes) wrong |= 4;
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) wrong |= 8;
    struct sigaction xfsz {};
    ::sigaction(SIGXFSZ, nullptr, &xfsz);
    if (xfsz.sa_handler != SIG_IGN) wrong |= 16;
    if (c.drop_privileges) {
      const uid_t id = qemu_id_for(::getpid());
      if (::getuid() != id || ::geteuid() != id || ::getgid() != id || ::getegid() != id) {
        wrong |= 32;
      }
      if (::setuid(0) == 0 || ::getgroups(0, nullptr) != 0) wrong |= 64;
      ::getrlimit(RLIMIT_NPROC, &r);
      if (r.rlim_max != kQemuMaxProcesses) wrong |= 128;
    }
    _exit(wrong);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

std::string read_fd(int fd) {
  std::ifstream in("/proc/self/fd/" + std::to_string(fd));
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST_CASE("a confined QEMU child has no core dumps, no new privileges and bounded limits",
          "[vm][confinement]") {
  Confinement c;
  c.max_file_bytes = file_size_limit(uint64_t{5} << 30);
  CHECK(c.max_file_bytes > (uint64_t{5} << 30));
  CHECK(confine_in_child(c) == 0);
}

TEST_CASE("as root, a confined QEMU child runs as its own unprivileged ids", "[vm][confinement]") {
  if (::geteuid() != 0) {
    WARN("not root: no ids to drop");
    return;
  }
  Confinement c = plan_confinement();
  REQUIRE(c.drop_privileges);  // root in the initial user namespace here
  c.max_file_bytes = file_size_limit(0);
  CHECK(confine_in_child(c) == 0);
}

TEST_CASE("two QEMUs never share an id, and none is a host user's", "[vm][confinement]") {
  CHECK(qemu_id_for(100) != qemu_id_for(101));
  CHECK(qemu_id_for(1) >= kQemuIdBase);
  CHECK(qemu_id_for(4 << 20) > kQemuIdBase);
}

TEST_CASE("passed files are opened as QEMU will use them", "[vm][confinement]") {
  TempDir dir;
  const auto disk = dir.path / "disk.img";
  const auto log = dir.path / "console.log";
  {
    std::ofstream(disk) << std::string(4096, 'd');
    std::ofstream(log) << "an old boot's log";
  }
  std::vector<PassedFile> files = {{20, disk, FileAccess::kReadWrite},
                                   {21, log, FileAccess::kWriteCreate},
                                   {22, dir.path / "new.state", FileAccess::kWriteCreate},
                                   {23, disk, FileAccess::kRead}};
  auto opened = open_passed_files(files, false);
  REQUIRE(opened.ok());
  CHECK(opened->largest_writable_bytes == 4096);
  REQUIRE(opened->inherit.size() == 4);
  CHECK((::fcntl(opened->inherit.at(20), F_GETFL) & O_ACCMODE) == O_RDWR);
  CHECK((::fcntl(opened->inherit.at(21), F_GETFL) & O_ACCMODE) == O_WRONLY);
  CHECK((::fcntl(opened->inherit.at(23), F_GETFL) & O_ACCMODE) == O_RDONLY);
  CHECK(std::filesystem::file_size(log) == 0);  // truncated: a new boot's log
  CHECK(std::filesystem::exists(dir.path / "new.state"));
  for (const auto& [target, fd] : opened->inherit) {
    CHECK((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);  // only the QEMU child gets them
  }
  auto missing = open_passed_files({{20, dir.path / "absent", FileAccess::kRead}}, false);
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error().message, Catch::Contains((dir.path / "absent").string()));
}

TEST_CASE("a kernel only its owner may read reaches another uid as a sealed copy",
          "[vm][confinement]") {
  TempDir dir;
  const auto kernel = dir.path / "vmlinux";
  std::ofstream(kernel) << "kernel bytes";
  std::filesystem::permissions(
      kernel, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::vector<PassedFile> files = {{20, kernel, FileAccess::kRead, true}};
  auto same_user = open_passed_files(files, false);
  REQUIRE(same_user.ok());
  CHECK(std::filesystem::read_symlink("/proc/self/fd/" +
                                      std::to_string(same_user->inherit.at(20))) == kernel);
  auto other_user = open_passed_files(files, true);
  REQUIRE(other_user.ok());
  const int fd = other_user->inherit.at(20);
  CHECK(std::filesystem::read_symlink("/proc/self/fd/" + std::to_string(fd))
            .string()
            .rfind("/memfd:", 0) == 0);
  CHECK(read_fd(fd) == "kernel bytes");
  CHECK(::write(fd, "x", 1) < 0);  // sealed
  struct stat st {};
  REQUIRE(::fstat(fd, &st) == 0);
  CHECK((st.st_mode & S_IROTH) != 0);
}
