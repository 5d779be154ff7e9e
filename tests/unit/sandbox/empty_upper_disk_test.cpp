#include "sandbox/empty_upper_disk.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "temp_dir.h"

using matchlock::testing::TempDir;
using namespace matchlock::sandbox;
namespace fs = std::filesystem;

namespace {

constexpr uint64_t kSizeMib = 64;

// True when `disk` holds an ext4 superblock (magic 0xEF53 at byte 1080) and is `size_mib` long.
bool is_ext4_of_size(const fs::path& disk, uint64_t size_mib) {
  std::ifstream in(disk, std::ios::binary);
  in.seekg(1080);
  unsigned char magic[2] = {};
  in.read(reinterpret_cast<char*>(magic), 2);
  return in && magic[0] == 0x53 && magic[1] == 0xEF && fs::file_size(disk) == size_mib << 20;
}

fs::path only_file_with_extension(const fs::path& dir, const std::string& extension) {
  fs::path found;
  int count = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == extension) {
      found = e.path();
      ++count;
    }
  }
  REQUIRE(count == 1);
  return found;
}

ino_t inode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_ino;
}

}  // namespace

TEST_CASE("a cold boot's writable disk is copied from one cached empty filesystem", "[sandbox]") {
  TempDir tmp;
  const fs::path cache = tmp.path / "cache";
  REQUIRE(create_empty_upper_disk(cache, tmp.path / "a.ext4", kSizeMib).ok());
  CHECK(is_ext4_of_size(tmp.path / "a.ext4", kSizeMib));
  const fs::path cached = only_file_with_extension(cache, ".img");
  only_file_with_extension(cache, ".digest");
  const ino_t made = inode_of(cached);

  REQUIRE(create_empty_upper_disk(cache, tmp.path / "b.ext4", kSizeMib).ok());
  CHECK(is_ext4_of_size(tmp.path / "b.ext4", kSizeMib));
  CHECK(inode_of(cached) == made);  // copied, not made again
  // No temporary file is left behind.
  for (const auto& e : fs::directory_iterator(cache)) CHECK(e.path().extension() != ".tmp");

  SECTION("another size gets its own cached filesystem") {
    REQUIRE(create_empty_upper_disk(cache, tmp.path / "c.ext4", 2 * kSizeMib).ok());
    CHECK(is_ext4_of_size(tmp.path / "c.ext4", 2 * kSizeMib));
    int images = 0;
    for (const auto& e : fs::directory_iterator(cache)) images += e.path().extension() == ".img";
    CHECK(images == 2);
  }
  SECTION("a changed cached filesystem is dropped and made again, never copied") {
    {
      std::fstream f(cached, std::ios::in | std::ios::out | std::ios::binary);
      f.seekp(1080);
      f.write("\0\0", 2);  // no longer ext4
    }
    REQUIRE(create_empty_upper_disk(cache, tmp.path / "d.ext4", kSizeMib).ok());
    CHECK(is_ext4_of_size(tmp.path / "d.ext4", kSizeMib));
    CHECK(is_ext4_of_size(only_file_with_extension(cache, ".img"), kSizeMib));
  }
  SECTION("a missing digest drops the cached filesystem") {
    fs::remove(only_file_with_extension(cache, ".digest"));
    REQUIRE(create_empty_upper_disk(cache, tmp.path / "e.ext4", kSizeMib).ok());
    CHECK(is_ext4_of_size(tmp.path / "e.ext4", kSizeMib));
    only_file_with_extension(cache, ".digest");
  }
}

TEST_CASE("the cache keeps the filesystems of the four sizes made last", "[sandbox]") {
  TempDir tmp;
  const fs::path cache = tmp.path / "cache";
  for (uint64_t i = 1; i <= 6; ++i) {
    const fs::path disk = tmp.path / ("d" + std::to_string(i));
    REQUIRE(create_empty_upper_disk(cache, disk, 16 * i).ok());
    CHECK(is_ext4_of_size(disk, 16 * i));
    // Made in order, a minute apart: a coarse clock must not make two of them equal.
    for (const auto& e : fs::directory_iterator(cache)) {
      const std::string size = "-" + std::to_string(16 * i) + "MiB.";
      if (e.path().filename().string().find(size) != std::string::npos) {
        fs::last_write_time(e.path(), fs::file_time_type::clock::now() -
                                          std::chrono::minutes(60 - static_cast<int>(i)));
      }
    }
  }
  std::vector<std::string> kept;
  int digests = 0;
  for (const auto& e : fs::directory_iterator(cache)) {
    if (e.path().extension() == ".img") kept.push_back(e.path().filename().string());
    digests += e.path().extension() == ".digest";
  }
  std::sort(kept.begin(), kept.end());
  CHECK(kept == std::vector<std::string>{"upper-ext4-v1-48MiB.img", "upper-ext4-v1-64MiB.img",
                                         "upper-ext4-v1-80MiB.img", "upper-ext4-v1-96MiB.img"});
  CHECK(digests == 4);
}

TEST_CASE("an unusable cache directory still gives a cold boot its disk", "[sandbox]") {
  TempDir tmp;
  const fs::path cache = tmp.path / "cache";
  std::ofstream(cache) << "a file where the cache directory should be";
  REQUIRE(create_empty_upper_disk(cache, tmp.path / "a.ext4", kSizeMib).ok());
  CHECK(is_ext4_of_size(tmp.path / "a.ext4", kSizeMib));
  CHECK(fs::is_regular_file(cache));
}

TEST_CASE("an existing target is never overwritten", "[sandbox]") {
  TempDir tmp;
  std::ofstream(tmp.path / "taken") << "keep";
  CHECK_FALSE(create_empty_upper_disk(tmp.path / "cache", tmp.path / "taken", kSizeMib).ok());
  std::ifstream in(tmp.path / "taken");
  std::string text;
  in >> text;
  CHECK(text == "keep");
}

TEST_CASE("half-made disks of killed makers are removed, a live maker's are not", "[sandbox]") {
  TempDir tmp;
  const fs::path cache = tmp.path / "cache";
  fs::create_directories(cache);
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  REQUIRE(::waitpid(dead, nullptr, 0) == dead);  // reaped: no process has that pid now
  const std::string dead_stem = ".making-" + std::to_string(dead) + "-0";
  const std::string live_stem = ".making-" + std::to_string(::getpid()) + "-999";
  for (const auto& stem : {dead_stem, live_stem}) {
    std::ofstream(cache / (stem + ".img")) << "half";
    std::ofstream(cache / (stem + ".digest")) << "half";
  }
  REQUIRE(create_empty_upper_disk(cache, tmp.path / "a.ext4", kSizeMib).ok());
  CHECK_FALSE(fs::exists(cache / (dead_stem + ".img")));
  CHECK_FALSE(fs::exists(cache / (dead_stem + ".digest")));
  CHECK(fs::exists(cache / (live_stem + ".img")));  // still being written, as far as we know
  std::vector<fs::path> told;
  fs::remove(cache / (live_stem + ".img"));
  std::ofstream(cache / (dead_stem + ".img")) << "half";
  CHECK(remove_dead_makers_leftovers(cache, [&](const fs::path& p) { told.push_back(p); }) == 0);
  CHECK(told == std::vector<fs::path>{cache / (dead_stem + ".img")});
}
