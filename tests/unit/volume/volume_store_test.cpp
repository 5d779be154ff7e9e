#include "volume/volume_store.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "cli/volume_json.h"
#include "volume/volume_test_home.h"

using namespace matchlock;
using namespace matchlock::volume;

TEST_CASE("volume names follow ^[A-Za-z0-9][A-Za-z0-9_.-]*$", "[volume]") {
  for (const char* ok : {"a", "cache", "My_vol-1.2", "0", "x.ext4"}) {
    CHECK(validate_volume_name(ok).ok());
  }
  for (const char* bad : {"", ".hidden", "-x", "_x", "a/b", "../a", "a b", "a:b", "@a", "é"}) {
    auto st = validate_volume_name(bad);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().message.find("invalid volume name \"" + std::string(bad) + "\"") == 0);
  }
  CHECK(validate_volume_name(std::string(128, 'a')).ok());
  CHECK_FALSE(validate_volume_name(std::string(129, 'a')).ok());
}

TEST_CASE("volume sizes print as %.1f MB", "[volume]") {
  CHECK(size_text(16ull << 20) == "16.0 MB");
  CHECK(size_text(10240ull << 20) == "10240.0 MB");
  CHECK(size_text((1ull << 20) + (1ull << 19)) == "1.5 MB");
  CHECK(size_text(0) == "0.0 MB");
}

TEST_CASE("volume JSON is exactly {name, size, path}, and ls an array", "[volume][cli]") {
  VolumeInfo v{"cache", 16ull << 20, "/h/volumes/cache.ext4"};
  CHECK(cli::volume_json(v) ==
        R"({"name":"cache","size":"16.0 MB","path":"/h/volumes/cache.ext4"})");
  CHECK(cli::volumes_json({}) == "[]");
  VolumeInfo quoted{"a", 1ull << 20, "/h/\"q\"/a.ext4"};
  CHECK(cli::volumes_json({v, quoted}) ==
        R"([{"name":"cache","size":"16.0 MB","path":"/h/volumes/cache.ext4"},)"
        R"({"name":"a","size":"1.0 MB","path":"/h/\"q\"/a.ext4"}])");
}

TEST_CASE("volumes are created, listed, copied and removed", "[volume]") {
  testing::TempMatchlockHome home;
  auto none = list_volumes();
  REQUIRE(none.ok());
  CHECK(none->empty());

  auto created = create_volume("data", 16);
  REQUIRE(created.ok());
  CHECK(created->name == "data");
  CHECK(created->size_bytes == (16ull << 20));
  CHECK(created->path == home.dir() / "volumes" / "data.ext4");
  CHECK(created->path.is_absolute());

  auto again = create_volume("data", 16);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message == "named volume already exists: data");

  auto copied = copy_volume("data", "data2");
  REQUIRE(copied.ok());
  CHECK(copied->size_bytes == created->size_bytes);
  struct stat a {
  }, b{};
  REQUIRE(::stat(created->path.c_str(), &a) == 0);
  REQUIRE(::stat(copied->path.c_str(), &b) == 0);
  CHECK(a.st_mode == b.st_mode);
  CHECK(a.st_mtim.tv_sec == b.st_mtim.tv_sec);
  CHECK(copy_volume("data", "data2").error().message == "named volume already exists: data2");
  CHECK(copy_volume("nope", "x").error().message == "named volume not found: nope");

  auto listed = list_volumes();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].name == "data");
  CHECK((*listed)[1].name == "data2");

  REQUIRE(remove_volume("data2").ok());
  CHECK(remove_volume("data2").error().code == ErrorCode::kNotFound);
  CHECK(remove_volume("data2").error().message == "named volume not found: data2");
  CHECK(list_volumes()->size() == 1);
}

TEST_CASE("a failed volume create leaves nothing behind", "[volume]") {
  testing::TempMatchlockHome home;
  CHECK(create_volume("bad/name", 16).error().code == ErrorCode::kInvalidArgument);
  CHECK(create_volume("tiny", 1).error().message.find("invalid --size 1") == 0);
  CHECK(create_volume("huge", kMaxSizeMib + 1).error().code == ErrorCode::kInvalidArgument);
  // Strangers in the directory (temp files, other files) are not volumes.
  std::filesystem::create_directories(home.dir() / "volumes");
  std::ofstream(home.dir() / "volumes" / ".tmp-x-1234").put('x');
  std::ofstream(home.dir() / "volumes" / "notes.txt").put('x');
  auto listed = list_volumes();
  REQUIRE(listed.ok());
  CHECK(listed->empty());
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(home.dir() / "volumes")) {
    (void)e;
    ++files;
  }
  CHECK(files == 2);  // only the strangers planted above
}
