// remove_tree against what a guest can leave in an overlay mount's upper directory: a tree far
// deeper than the open-file limit, symlinks pointing out of it, files and empty directories.
#include "core/remove_tree.h"
#include "temp_dir.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

using matchlock::testing::TempDir;

namespace fs = std::filesystem;

namespace {

// Nests `levels` directories under `dir`/c with short paths only, the way a guest can.
void nest(const fs::path& dir, int levels) {
  const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  REQUIRE(d >= 0);
  REQUIRE(::mkdirat(d, "c", 0755) == 0);
  for (int i = 0; i < levels; ++i) {
    REQUIRE(::mkdirat(d, "n", 0755) == 0);
    REQUIRE(::renameat(d, "c", d, "n/c") == 0);
    REQUIRE(::renameat(d, "n", d, "c") == 0);
  }
  ::close(d);
}

// The soft open-file limit lowered for the scope of a test.
struct FewerFiles {
  rlimit saved{};
  explicit FewerFiles(rlim_t n) {
    REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
    rlimit lower = saved;
    lower.rlim_cur = n;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &lower) == 0);
  }
  ~FewerFiles() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

}  // namespace

TEST_CASE("remove_tree removes a tree deeper than the open-file limit", "[core][remove_tree]") {
  TempDir t;
  const fs::path root = t.path / "upper";
  fs::create_directory(root);
  nest(root, 5000);
  FewerFiles limit(256);
  std::error_code ec;
  // What the engine used before: one open directory per level, so it gives up (EMFILE).
  CHECK(fs::remove_all(root, ec) == static_cast<std::uintmax_t>(-1));
  CHECK(ec == std::errc::too_many_files_open);
  CHECK(matchlock::remove_tree(root, ec) > 0);
  CHECK_FALSE(ec);
  CHECK_FALSE(fs::exists(root));
}

TEST_CASE("remove_tree removes files, links and empty directories but nothing a link names",
          "[core][remove_tree]") {
  TempDir t;
  const fs::path outside = t.path / "outside";
  fs::create_directories(outside / "kept");
  std::ofstream(outside / "kept" / "file") << "stays";
  const fs::path root = t.path / "tree";
  fs::create_directories(root / "a" / "b" / "empty");
  std::ofstream(root / "a" / "b" / "f") << "x";
  std::ofstream(root / "top") << "y";
  fs::create_directory_symlink(outside / "kept", root / "a" / "to_outside");
  fs::create_symlink("/nonexistent", root / "dangling");
  std::error_code ec;
  // tree, a, b, empty, f, top, to_outside, dangling
  CHECK(matchlock::remove_tree(root, ec) == 8);
  CHECK_FALSE(ec);
  CHECK_FALSE(fs::exists(root));
  CHECK(fs::exists(outside / "kept" / "file"));

  CHECK(matchlock::remove_tree(root, ec) == 0);  // already gone: nothing to do, no error
  CHECK_FALSE(ec);
  std::ofstream(t.path / "single") << "z";
  CHECK(matchlock::remove_tree(t.path / "single", ec) == 1);
  fs::create_directory_symlink(outside, t.path / "link_to_dir");
  CHECK(matchlock::remove_tree(t.path / "link_to_dir", ec) == 1);  // the link, not its target
  CHECK(fs::exists(outside / "kept" / "file"));
}
