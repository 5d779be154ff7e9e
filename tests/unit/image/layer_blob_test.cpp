#include "image/layer_blob.h"

#include <fcntl.h>

#include <catch2/catch.hpp>

#include "layer_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;

namespace {

struct Store {
  TempDir tmp;
  ContentStore store{tmp / "blobs", tmp / "tmp"};
  Store() { REQUIRE(store.init().ok()); }

  std::string decompress(const std::filesystem::path& blob) {
    auto out = tmp / "out";
    matchlock::UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
    REQUIRE(decompress_layer(blob, fd.get()).ok());
    return read_file(out);
  }
};

// `data` compressed by libarchive's `filter` with nothing after the stream (TarBuilder pads its
// output to a 10240-byte block, which is not what a registry blob looks like).
std::string compressed(const std::string& data, int (*filter)(archive*)) {
  std::unique_ptr<archive, int (*)(archive*)> a(archive_write_new(), archive_write_free);
  archive_write_set_format_raw(a.get());
  filter(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  std::string out;
  archive_write_open(
      a.get(), &out, nullptr,
      [](archive*, void* self, const void* buf, size_t len) -> la_ssize_t {
        static_cast<std::string*>(self)->append(static_cast<const char*>(buf), len);
        return static_cast<la_ssize_t>(len);
      },
      nullptr);
  std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(),
                                                             archive_entry_free);
  archive_entry_set_pathname(e.get(), "data");
  archive_entry_set_filetype(e.get(), AE_IFREG);
  archive_write_header(a.get(), e.get());
  archive_write_data(a.get(), data.data(), data.size());
  archive_write_close(a.get());
  return out;
}

std::string noise(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

}  // namespace

TEST_CASE("compress_layer stores a deterministic gzip blob and reports the diff_id",
          "[image][layer_blob]") {
  Store s;
  std::string tar = TarBuilder().dir("etc").file("etc/motd", std::string(100000, 'm')).finish();
  write_file(s.tmp / "layer.tar", tar);
  auto a = compress_layer(s.tmp / "layer.tar", s.store);
  REQUIRE(a.ok());
  CHECK(a->diff_id == sha256_digest(tar));
  CHECK(s.store.contains(a->digest));
  CHECK(s.store.verify(a->digest, a->size).ok());
  std::string blob = read_file(s.store.path(a->digest));
  REQUIRE(blob.size() > 10);
  CHECK(static_cast<unsigned char>(blob[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(blob[1]) == 0x8b);
  CHECK((blob[3] & 0x08) == 0);                      // FNAME flag: no file name
  CHECK(blob.substr(4, 4) == std::string(4, '\0'));  // MTIME 0

  // The same tar again, from another file, gives the same blob.
  write_file(s.tmp / "again.tar", tar);
  auto b = compress_layer(s.tmp / "again.tar", s.store);
  REQUIRE(b.ok());
  CHECK(b->digest == a->digest);
  CHECK(b->size == a->size);
  CHECK(s.decompress(s.store.path(a->digest)) == tar);
}

TEST_CASE("decompress_layer reads gzip, zstd and plain blobs", "[image][layer_blob]") {
  Store s;
  std::string plain = TarBuilder().file("a", "content a").finish();
  write_file(s.tmp / "plain", plain);
  write_file(s.tmp / "gz", compressed(plain, archive_write_add_filter_gzip));
  write_file(s.tmp / "zst", compressed(plain, archive_write_add_filter_zstd));
  write_file(s.tmp / "empty", "");
  CHECK(s.decompress(s.tmp / "plain") == plain);
  CHECK(s.decompress(s.tmp / "gz") == plain);
  CHECK(s.decompress(s.tmp / "zst") == plain);
  CHECK(s.decompress(s.tmp / "empty").empty());
}

TEST_CASE("decompress_layer reports a missing or corrupt blob", "[image][layer_blob]") {
  Store s;
  std::string gz = compressed(noise(50000), archive_write_add_filter_gzip);
  write_file(s.tmp / "cut", gz.substr(0, gz.size() / 2));
  matchlock::UniqueFd fd(::open((s.tmp / "sink").c_str(), O_WRONLY | O_CREAT, 0644));
  CHECK_FALSE(decompress_layer(s.tmp / "missing", fd.get()).ok());
  CHECK_FALSE(decompress_layer(s.tmp / "cut", fd.get()).ok());
}
