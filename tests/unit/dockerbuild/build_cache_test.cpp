#include "dockerbuild/build_cache.h"

#include <catch2/catch.hpp>

#include "image/image_test_util.h"

using namespace matchlock::dockerbuild;
using matchlock::image::ContentStore;
using matchlock::image::testing::read_file;
using matchlock::image::testing::TempDir;
using matchlock::image::testing::write_file;
namespace fs = std::filesystem;

namespace {

BuildCache open_cache(const fs::path& dir) {
  auto c = BuildCache::open(dir);
  REQUIRE(c.ok());
  return std::move(*c);
}

struct Fixture {
  TempDir tmp;
  ContentStore blobs{tmp / "images/blobs", tmp / "images/tmp"};
  BuildCache cache = open_cache(tmp / "cache/build");

  Fixture() { REQUIRE(blobs.init().ok()); }

  CacheEntry put_layer(const std::string& content) {
    auto info = blobs.put(content);
    REQUIRE(info.ok());
    CacheEntry e;
    e.digest = info->digest;
    e.diff_id = "sha256:" + std::string(64, 'd');
    e.size = info->size;
    return e;
  }
  fs::path entry_file(const std::string& key) const {
    return tmp / "cache/build" / key.substr(0, 2) / (key + ".json");
  }
};

}  // namespace

TEST_CASE("cache keys are sha256 hex and change with every part", "[build][cache]") {
  const std::string k = BuildCache::key("parent", "RUN make", "sha256:inputs");
  CHECK(k.size() == 64);
  CHECK(k.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(BuildCache::key("parent", "RUN make", "sha256:inputs") == k);
  CHECK(BuildCache::key("parent2", "RUN make", "sha256:inputs") != k);
  CHECK(BuildCache::key("parent", "RUN make ", "sha256:inputs") != k);
  CHECK(BuildCache::key("parent", "RUN make", "") != k);
  // Moving text across a part boundary is a different key.
  CHECK(BuildCache::key("ab", "c", "") != BuildCache::key("a", "bc", ""));
  CHECK(BuildCache::key("", "", "x") != BuildCache::key("", "x", ""));
}

TEST_CASE("a stored layer entry hits while its blob is in the store", "[build][cache]") {
  Fixture f;
  const std::string key = BuildCache::key("p", "RUN a", "");
  CHECK_FALSE(f.cache.lookup(key, f.blobs).has_value());
  CacheEntry e = f.put_layer("layer bytes");
  REQUIRE(f.cache.store(key, e).ok());
  CHECK(fs::exists(f.entry_file(key)));
  auto hit = f.cache.lookup(key, f.blobs);
  REQUIRE(hit.has_value());
  CHECK_FALSE(hit->no_layer);
  CHECK(hit->digest == e.digest);
  CHECK(hit->diff_id == e.diff_id);
  CHECK(hit->size == e.size);
  // The shard holds only the entry: no temp file left behind.
  size_t files = 0;
  for (const auto& de : fs::directory_iterator(f.entry_file(key).parent_path())) {
    (void)de;
    ++files;
  }
  CHECK(files == 1);

  // Once the blob is gone (collected by `image rm`), the entry is a miss.
  REQUIRE(f.blobs.remove(e.digest).ok());
  CHECK_FALSE(f.cache.lookup(key, f.blobs).has_value());
}

TEST_CASE("a blob of another size than recorded is a miss", "[build][cache]") {
  Fixture f;
  const std::string key = BuildCache::key("p", "RUN b", "");
  CacheEntry e = f.put_layer("twelve bytes");
  e.size += 1;
  REQUIRE(f.cache.store(key, e).ok());
  CHECK_FALSE(f.cache.lookup(key, f.blobs).has_value());
}

TEST_CASE("a no-layer entry hits without any blob", "[build][cache]") {
  Fixture f;
  const std::string key = BuildCache::key("p", "RUN true", "");
  CacheEntry none;
  none.no_layer = true;
  REQUIRE(f.cache.store(key, none).ok());
  auto hit = f.cache.lookup(key, f.blobs);
  REQUIRE(hit.has_value());
  CHECK(hit->no_layer);
  CHECK(hit->digest.empty());
}

TEST_CASE("storing again replaces the entry", "[build][cache]") {
  Fixture f;
  const std::string key = BuildCache::key("p", "RUN c", "");
  REQUIRE(f.cache.store(key, f.put_layer("one")).ok());
  CacheEntry second = f.put_layer("two");
  REQUIRE(f.cache.store(key, second).ok());
  auto hit = f.cache.lookup(key, f.blobs);
  REQUIRE(hit.has_value());
  CHECK(hit->digest == second.digest);
}

TEST_CASE("malformed entries and keys are misses, never crashes", "[build][cache]") {
  Fixture f;
  CacheEntry e = f.put_layer("layer");
  const std::string key = BuildCache::key("p", "RUN d", "");
  REQUIRE(f.cache.store(key, e).ok());
  const std::string good = read_file(f.entry_file(key));
  const std::string digest = e.digest;
  const std::string bad_entries[] = {
      "",
      "not json",
      "[]",
      "{}",
      R"({"version":2,"layer":null})",
      R"({"version":1})",
      R"({"version":1,"layer":"x"})",
      R"({"version":1,"layer":{"digest":")" + digest + R"(","size":5}})",
      R"({"version":1,"layer":{"digest":"sha256:zz","diff_id":")" + digest + R"(","size":5}})",
      R"({"version":1,"layer":{"digest":")" + digest + R"(","diff_id":")" + digest +
          R"(","size":-1}})",
      R"({"version":1,"layer":{"digest":")" + digest + R"(","diff_id":")" + digest +
          R"(","size":"5"}})",
      std::string(10000, '{'),
  };
  for (const auto& text : bad_entries) {
    write_file(f.entry_file(key), text);
    CHECK_FALSE(f.cache.lookup(key, f.blobs).has_value());
  }
  write_file(f.entry_file(key), good);
  CHECK(f.cache.lookup(key, f.blobs).has_value());

  CHECK_FALSE(f.cache.lookup("", f.blobs).has_value());
  CHECK_FALSE(f.cache.lookup("../../etc/passwd", f.blobs).has_value());
  CHECK_FALSE(f.cache.lookup(std::string(64, 'A'), f.blobs).has_value());
  CHECK_FALSE(f.cache.store("../x", e).ok());
  CacheEntry broken = e;
  broken.digest = "sha256:short";
  CHECK_FALSE(f.cache.store(key, broken).ok());
}

TEST_CASE("the step's creation time round-trips", "[build][cache]") {
  Fixture f;
  const std::string key = BuildCache::key("p", "RUN e", "");
  CacheEntry e = f.put_layer("layer with a time");
  e.created_unix = 1700000123;
  REQUIRE(f.cache.store(key, e).ok());
  auto hit = f.cache.lookup(key, f.blobs);
  REQUIRE(hit.has_value());
  CHECK(hit->created_unix == 1700000123);
  CHECK(hit->digest == e.digest);

  // No-layer entries keep it too.
  const std::string none_key = BuildCache::key("p", "ENV A=1", "");
  CacheEntry none;
  none.no_layer = true;
  none.created_unix = 1600000000;
  REQUIRE(f.cache.store(none_key, none).ok());
  auto none_hit = f.cache.lookup(none_key, f.blobs);
  REQUIRE(none_hit.has_value());
  CHECK(none_hit->no_layer);
  CHECK(none_hit->created_unix == 1600000000);
}

TEST_CASE("an entry whose creation time is not an integer is a miss", "[build][cache]") {
  Fixture f;
  CacheEntry e = f.put_layer("layer");
  const std::string key = BuildCache::key("p", "RUN f", "");
  REQUIRE(f.cache.store(key, e).ok());
  const std::string layer = R"({"digest":")" + e.digest + R"(","diff_id":")" + e.diff_id +
                            R"(","size":)" + std::to_string(e.size) + "}";
  // The same entry with a well-formed time hits, so only the time decides below.
  write_file(f.entry_file(key), R"({"version":1,"created":1700000000,"layer":)" + layer + "}");
  auto hit = f.cache.lookup(key, f.blobs);
  REQUIRE(hit.has_value());
  CHECK(hit->created_unix == 1700000000);

  const std::string bad_times[] = {
      R"("1700000000")", "1700000000.5", "null", "true", "[]", "{}", "18446744073709551615",
  };
  for (const auto& created : bad_times) {
    INFO(created);
    write_file(f.entry_file(key),
               R"({"version":1,"created":)" + created + R"(,"layer":)" + layer + "}");
    CHECK_FALSE(f.cache.lookup(key, f.blobs).has_value());
    write_file(f.entry_file(key), R"({"version":1,"created":)" + created + R"(,"layer":null})");
    CHECK_FALSE(f.cache.lookup(key, f.blobs).has_value());
  }
}
