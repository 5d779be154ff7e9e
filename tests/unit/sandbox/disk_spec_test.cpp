#include "sandbox/disk_spec.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "volume/volume_store.h"
#include "volume/volume_test_home.h"

using namespace matchlock;
using namespace matchlock::sandbox;

namespace {

// A file whose superblock magic says ext4 (all the host checks), and one that is not ext4.
struct DiskFiles {
  testing::TempMatchlockHome home;
  std::string dir = home.dir().string();
  std::string ext4 = dir + "/data.img";
  std::string other = dir + "/plain.img";
  DiskFiles() {
    std::string image(4096, '\0');
    image[1024 + 56] = '\x53';
    image[1024 + 57] = '\xEF';
    std::ofstream(ext4, std::ios::binary) << image;
    std::ofstream(other, std::ios::binary) << std::string(4096, 'x');
  }
};

std::string error_of(std::string_view value, const std::string& cwd = "/") {
  auto r = parse_disk_flag(value, cwd);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

}  // namespace

TEST_CASE("--disk HOST:GUEST[:ro] resolves the image and cleans the mount point", "[disk]") {
  DiskFiles f;
  auto rw = parse_disk_flag(f.ext4 + ":/data/", "/");
  REQUIRE(rw.ok());
  CHECK(rw->host_path == f.ext4);
  CHECK(rw->guest_path == "/data");
  CHECK_FALSE(rw->readonly);
  CHECK(rw->volume.empty());

  auto ro = parse_disk_flag("data.img:/mnt/x/../y:ro", f.dir);  // relative to the cwd
  REQUIRE(ro.ok());
  CHECK(ro->host_path == f.ext4);
  CHECK(ro->guest_path == "/mnt/y");
  CHECK(ro->readonly);

  // A symlink is resolved, so the same image is recognised under another name.
  std::filesystem::create_symlink(f.ext4, f.dir + "/link.img");
  CHECK(parse_disk_flag(f.dir + "/link.img:/d", "/")->host_path == f.ext4);
}

TEST_CASE("--disk @NAME uses the named volume", "[disk][volume]") {
  DiskFiles f;
  auto made = volume::create_volume("cache", 16);
  REQUIRE(made.ok());
  auto d = parse_disk_flag("@cache:/cache:ro", "/");
  REQUIRE(d.ok());
  CHECK(d->volume == "cache");
  CHECK(d->host_path == made->path.string());
  CHECK(error_of("@missing:/x") ==
        "invalid --disk \"@missing:/x\": named volume not found: missing");
  CHECK(error_of("@bad/name:/x").find("invalid --disk \"@bad/name:/x\": invalid volume name") == 0);
}

TEST_CASE("--disk errors name the value", "[disk]") {
  DiskFiles f;
  CHECK(error_of("/nonexistent/a.img:/d") ==
        "invalid --disk \"/nonexistent/a.img:/d\": host file /nonexistent/a.img: No such file or "
        "directory");
  CHECK(error_of(f.dir + ":/d") ==
        "invalid --disk \"" + f.dir + ":/d\": host file " + f.dir + ": not a regular file");
  CHECK(error_of(f.other + ":/d").find("not an ext4 image") != std::string::npos);
  CHECK(error_of(f.ext4 + ":/d:rw") ==
        "invalid --disk \"" + f.ext4 + ":/d:rw\": unknown option \"rw\" (only :ro)");
  CHECK(error_of(f.ext4) ==
        "invalid --disk \"" + f.ext4 + "\": expected HOST_PATH:GUEST_PATH[:ro]");
  CHECK(error_of(":/d") == "invalid --disk \":/d\": empty host path");
  CHECK(error_of(f.ext4 + ":relative").find("unknown option \"relative\"") != std::string::npos);
  CHECK(error_of(f.ext4 + ":/").find("guest path \"/\": must not be /") != std::string::npos);
  CHECK(error_of(f.ext4 + ":/proc/x").find("system directory") != std::string::npos);
  CHECK(error_of(f.ext4 + ":/etc").find("system directory") != std::string::npos);
  CHECK(error_of(f.ext4 + ":/a b").find("may only contain") != std::string::npos);
}

TEST_CASE("a read-write disk must be writable by the engine", "[disk]") {
  DiskFiles f;
  std::filesystem::permissions(f.ext4, std::filesystem::perms::owner_read);
  CHECK(parse_disk_flag(f.ext4 + ":/d:ro", "/").ok());
  if (::geteuid() != 0) {  // root may write any file
    CHECK(error_of(f.ext4 + ":/d").find("cannot open it read-write") != std::string::npos);
  }
}

TEST_CASE("a set of disks: no image or mount point twice, none shadowed by the workspace",
          "[disk]") {
  auto disk = [](std::string host, std::string guest) {
    return DiskSpec{std::move(host), std::move(guest), false, ""};
  };
  CHECK_FALSE(find_disk_conflict({disk("/a", "/data"), disk("/b", "/cache")}, "/workspace"));

  auto same_image = find_disk_conflict({disk("/a", "/data"), disk("/a", "/other")}, "/workspace");
  REQUIRE(same_image);
  CHECK(same_image->index == 1);
  CHECK_FALSE(same_image->guest_side);

  auto same_mount = find_disk_conflict({disk("/a", "/data"), disk("/b", "/data/sub")}, "/ws");
  REQUIRE(same_mount);
  CHECK(same_mount->index == 1);
  CHECK(same_mount->guest_side);

  auto shadowed = find_disk_conflict({disk("/a", "/workspace/data")}, "/workspace");
  REQUIRE(shadowed);
  CHECK(shadowed->guest_side);
  CHECK(shadowed->why == "\"/workspace/data\" is shadowed by the workspace \"/workspace\"");
  CHECK(find_disk_conflict({disk("/a", "/workspace")}, "/workspace"));
  CHECK(find_disk_conflict({disk("/a", "/srv")}, "/srv/ws"));
  CHECK_FALSE(find_disk_conflict({disk("/a", "/workspace2")}, "/workspace"));

  std::vector<DiskSpec> many;
  for (size_t i = 0; i <= kMaxDisks; ++i) {
    many.push_back(disk("/i" + std::to_string(i), "/m" + std::to_string(i)));
  }
  auto too_many = find_disk_conflict(many, "/workspace");
  REQUIRE(too_many);
  CHECK(too_many->why.find("at most") == 0);
}
