#include "cli/sandbox_teardown.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "cli/host_checks.h"
#include "core/paths.h"
#include "core/unique_fd.h"
#include "temp_dir.h"

using matchlock::testing::TempDir;

namespace fs = std::filesystem;
using matchlock::cli::orphan_folders;
using matchlock::cli::remove_leftover_files;

namespace {

void touch(const fs::path& p) {
  std::ofstream(p) << "x";
}

// A Unix socket file, as a dead owner leaves behind.
void make_socket(const fs::path& p) {
  matchlock::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
  REQUIRE(fd.valid());
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  REQUIRE(p.string().size() < sizeof addr.sun_path);
  std::strcpy(addr.sun_path, p.c_str());
  REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
}

// Points $MATCHLOCK_HOME at a directory for one test, whatever way the test ends.
struct HomeOverride {
  explicit HomeOverride(const fs::path& home) { ::setenv("MATCHLOCK_HOME", home.c_str(), 1); }
  ~HomeOverride() { ::unsetenv("MATCHLOCK_HOME"); }
};

void age(const fs::path& p, std::chrono::seconds by) {
  fs::last_write_time(p, fs::file_time_type::clock::now() - by);
}

}  // namespace

TEST_CASE("gc removes sockets and disks of a stopped sandbox and keeps its logs", "[cli][gc]") {
  TempDir tmp;
  touch(tmp.path / "upper.ext4");
  touch(tmp.path / "console.log");
  touch(tmp.path / "qemu.log");
  make_socket(tmp.path / "control.sock");
  auto removed = remove_leftover_files(tmp.path);
  REQUIRE(removed.ok());
  CHECK(*removed == std::vector<std::string>{"control.sock", "upper.ext4"});
  CHECK(fs::exists(tmp.path / "console.log"));
  CHECK(fs::exists(tmp.path / "qemu.log"));
  CHECK_FALSE(fs::exists(tmp.path / "upper.ext4"));

  auto again = remove_leftover_files(tmp.path);
  REQUIRE(again.ok());
  CHECK(again->empty());
  auto missing = remove_leftover_files(tmp.path / "nope");
  REQUIRE(missing.ok());
  CHECK(missing->empty());
}

TEST_CASE("orphan folders are the old ones without a row", "[cli][gc]") {
  TempDir tmp;
  for (const char* name : {"vm-known001", "vm-orphan01", "vm-young001"}) {
    fs::create_directory(tmp.path / name);
  }
  age(tmp.path / "vm-known001", std::chrono::seconds(3600));
  age(tmp.path / "vm-orphan01", std::chrono::seconds(3600));
  auto orphans = orphan_folders(tmp.path, {"vm-known001"}, std::chrono::seconds(60));
  CHECK(orphans == std::vector<std::string>{"vm-orphan01"});
  CHECK(orphan_folders(tmp.path / "nope", {}, std::chrono::seconds(0)).empty());
}

TEST_CASE("remove_sandbox deletes folder and row, and refuses an active sandbox", "[cli][rm]") {
  TempDir tmp;
  HomeOverride home(tmp.path);
  auto store = matchlock::state::StateStore::open(tmp.path);
  REQUIRE(store.ok());
  matchlock::state::SandboxRow row;
  row.id = "vm-rm000001";
  row.status = "running";
  row.image = "busybox";
  row.owner_pid = ::getpid();
  REQUIRE((*store)->insert_sandbox(row).ok());
  fs::create_directories(matchlock::sandbox_dir(row.id));
  touch(matchlock::sandbox_dir(row.id) / "console.log");

  auto refused = matchlock::cli::remove_sandbox(**store, row);
  CHECK_FALSE(refused.ok());
  CHECK(fs::exists(matchlock::sandbox_dir(row.id)));

  row.status = "stopped";
  REQUIRE((*store)->set_status(row.id, "stopped").ok());
  REQUIRE(matchlock::cli::remove_sandbox(**store, row).ok());
  CHECK_FALSE(fs::exists(matchlock::sandbox_dir(row.id)));
  auto gone = (*store)->get_sandbox(row.id);
  REQUIRE(gone.ok());
  CHECK_FALSE(gone->has_value());
  // Removing again (row and folder already gone) is fine.
  CHECK(matchlock::cli::remove_sandbox(**store, row).ok());
}
