#include "image/layer_canonicalizer.h"

#include <catch2/catch.hpp>

#include "layer_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;

namespace {

struct Canon {
  TempDir tmp;
  std::filesystem::path out = tmp / "out.tar";

  matchlock::Result<CanonicalLayer> run(const std::string& input, const LayerLimits& limits = {}) {
    auto fd = fd_of(tmp, input);
    return canonicalize_layer(fd.get(), out, limits);
  }
  std::vector<ListedEntry> entries() const { return list_tar(read_file(out)); }
};

std::string error_of(const matchlock::Result<CanonicalLayer>& r) {
  return r.ok() ? std::string("(ok)") : r.error().message;
}

}  // namespace

TEST_CASE("canonicaliser sorts entries and drops the root entry", "[image][canonicalize]") {
  Canon c;
  std::string input = TarBuilder()
                          .dir("./")
                          .file("./z", "zz")
                          .dir("./a")
                          .file("./a-b", "x")
                          .file("./a/f", "ff", 0600, 1000, 1000)
                          .symlink("./a/l", "/etc/passwd")
                          .chardev("./a/dev")
                          .fifo("./a/fifo")
                          .file_with_xattr("./a/x", "xx", "user.k", "v")
                          .finish();
  auto r = c.run(input);
  REQUIRE(r.ok());
  auto e = c.entries();
  CHECK(paths_of(e) ==
        std::vector<std::string>{"a/", "a/dev", "a/f", "a/fifo", "a/l", "a/x", "a-b", "z"});
  CHECK(r->entries == 8);
  CHECK(r->diff_id == sha256_digest(read_file(c.out)));
  CHECK(r->size == static_cast<int64_t>(read_file(c.out).size()));
  CHECK(find_entry(e, "a/f")->uid == 1000);
  CHECK(find_entry(e, "a/f")->perm == 0600);
  CHECK(find_entry(e, "a/f")->content == "ff");
  CHECK(find_entry(e, "a/l")->symlink == "/etc/passwd");
  CHECK(find_entry(e, "a/dev")->type == AE_IFCHR);
  CHECK(find_entry(e, "a/x")->xattrs.at("user.k") == "v");
}

TEST_CASE("canonicaliser output depends only on the content, not the input order",
          "[image][canonicalize]") {
  Canon a, b;
  auto ra = a.run(TarBuilder().dir("d").file("d/1", "one").file("d/2", "two").finish());
  auto rb = b.run(TarBuilder().file("d/2", "two").dir("d").file("d/1", "one").finish());
  REQUIRE(ra.ok());
  REQUIRE(rb.ok());
  CHECK(ra->diff_id == rb->diff_id);
  CHECK(read_file(a.out) == read_file(b.out));
}

TEST_CASE("canonicaliser rejects names with .. and makes absolute names relative",
          "[image][canonicalize]") {
  Canon c;
  auto bad = c.run(TarBuilder().file("../x", "evil").finish());
  REQUIRE_FALSE(bad.ok());
  CHECK(error_of(bad).find("escapes") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(c.out));
  CHECK_FALSE(c.run(TarBuilder().file("a/../../x", "evil").finish()).ok());

  auto abs = c.run(TarBuilder().file("/etc/motd", "hi").finish());
  REQUIRE(abs.ok());
  CHECK(paths_of(c.entries()) == std::vector<std::string>{"etc/motd"});
}

TEST_CASE("canonicaliser bounds pax metadata, names, entries and content",
          "[image][canonicalize]") {
  Canon c;
  std::string huge_xattr(2 << 20, 'x');
  auto pax = c.run(TarBuilder().file_with_xattr("f", "", "user.big", huge_xattr).finish());
  REQUIRE_FALSE(pax.ok());

  LayerLimits small;
  small.max_metadata_bytes = 64 * 1024;  // below what libarchive itself refuses
  auto xattr = c.run(
      TarBuilder().file_with_xattr("f", "", "user.big", std::string(100000, 'x')).finish(), small);
  REQUIRE_FALSE(xattr.ok());
  CHECK(error_of(xattr).find("metadata") != std::string::npos);
  small = {};
  small.max_entries = 2;
  CHECK_FALSE(c.run(TarBuilder().file("a", "").file("b", "").file("c", "").finish(), small).ok());
  small = {};
  small.max_total_bytes = 10;
  CHECK_FALSE(c.run(TarBuilder().file("a", "123456").file("b", "123456").finish(), small).ok());
  small = {};
  small.max_name_bytes = 16;
  CHECK_FALSE(c.run(TarBuilder().file(std::string(17, 'n'), "").finish(), small).ok());
  CHECK_FALSE(c.run(TarBuilder().file(std::string(256, 'n'), "").finish()).ok());
  small = {};
  small.max_input_bytes = 4096;
  CHECK_FALSE(c.run(TarBuilder().file("a", std::string(8192, 'a')).finish(), small).ok());
}

// Found by fuzz/layer_canonicalizer: libarchive's pax writer percent-encodes such names, so the
// canonical form was not a fixed point and the xattr came back renamed.
TEST_CASE("canonicaliser refuses xattr names a pax header would alter", "[image][canonicalize]") {
  Canon c;
  for (std::string name : {"user.100%", "user.a=b", "user.a b", "user.\xee", "user.\x01"}) {
    INFO(name);
    auto layer = c.run(TarBuilder().file_with_xattr("f", "", name, "v").finish());
    REQUIRE_FALSE(layer.ok());
    CHECK(error_of(layer).find("xattr name") != std::string::npos);
  }
  CHECK(c.run(TarBuilder().file_with_xattr("f", "", "security.capability", "v").finish()).ok());
}

TEST_CASE("canonicaliser wants hardlinks to name an earlier file, and rewrites them in order",
          "[image][canonicalize]") {
  Canon c;
  CHECK_FALSE(c.run(TarBuilder().hardlink("a", "missing").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().hardlink("a", "b").file("b", "late").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().dir("d").hardlink("a", "d").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().file("x", "").hardlink("a", "../x").finish()).ok());

  // "z" holds the data in the input, but "a" sorts first: it carries the data now.
  auto r = c.run(TarBuilder().file("z", "shared").hardlink("a", "z").finish());
  REQUIRE(r.ok());
  auto e = c.entries();
  REQUIRE(e.size() == 2);
  CHECK(e[0].path == "a");
  CHECK(e[0].content == "shared");
  CHECK(e[1].path == "z");
  CHECK(e[1].hardlink == "a");
}

TEST_CASE("canonicaliser keeps the last entry of a name; a link keeps the old file",
          "[image][canonicalize]") {
  Canon c;
  auto r = c.run(TarBuilder()
                     .file("f", "first")
                     .hardlink("g", "f")
                     .file("f", "second", 0600)
                     .file("h", "1")
                     .file("h", "2")
                     .finish());
  REQUIRE(r.ok());
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"f", "g", "h"});
  CHECK(find_entry(e, "f")->content == "second");
  CHECK(find_entry(e, "f")->perm == 0600);
  CHECK(find_entry(e, "g")->content == "first");
  CHECK(find_entry(e, "g")->hardlink.empty());
  CHECK(find_entry(e, "h")->content == "2");
}

TEST_CASE("canonicaliser refuses entries below a symlink or file", "[image][canonicalize]") {
  Canon c;
  auto r = c.run(TarBuilder().symlink("etc", "/host/etc").file("etc/passwd", "x").finish());
  REQUIRE_FALSE(r.ok());
  CHECK(error_of(r).find("below a non-directory") != std::string::npos);
  CHECK_FALSE(c.run(TarBuilder().dir("d").file("d/x", "").file("d", "now a file").finish()).ok());
  // A later directory replacing the symlink makes it fine.
  CHECK(c.run(TarBuilder().symlink("d", "/x").dir("d").file("d/f", "").finish()).ok());
}

TEST_CASE("canonicaliser checks whiteouts and writes them with fixed metadata",
          "[image][canonicalize]") {
  Canon c;
  CHECK_FALSE(c.run(TarBuilder().file("d/.wh.x", "not empty").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().dir("d/.wh.x").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().symlink(".wh.x", "y").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().file(".wh.", "").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().file(".wh..wh.plnk", "").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().file("a", "").hardlink(".wh.b", "a").finish()).ok());
  CHECK_FALSE(c.run(TarBuilder().file(".wh.a", "").hardlink("b", ".wh.a").finish()).ok());

  auto r = c.run(TarBuilder()
                     .dir("d")
                     .file("d/.wh..wh..opq", "", 0644, 5, 5, 1234)
                     .file("d/.wh.gone", "", 0600, 7, 7, 99)
                     .finish());
  REQUIRE(r.ok());
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"d/", "d/.wh..wh..opq", "d/.wh.gone"});
  for (size_t i = 1; i < e.size(); ++i) {
    CHECK(e[i].type == AE_IFREG);
    CHECK(e[i].size == 0);
    CHECK(e[i].uid == 0);
    CHECK(e[i].perm == 0);
    CHECK(e[i].mtime == 0);
  }
}

TEST_CASE("canonicaliser rejects truncated and garbage input, accepts an empty one",
          "[image][canonicalize]") {
  Canon c;
  std::string good = TarBuilder().file("a", std::string(5000, 'a')).file("b", "bb").finish();
  auto truncated = c.run(good.substr(0, 2048));
  CHECK_FALSE(truncated.ok());
  CHECK_FALSE(std::filesystem::exists(c.out));
  CHECK_FALSE(c.run(std::string(3000, '\x7f')).ok());
  CHECK_FALSE(c.run("hello, this is not a tar").ok());

  auto empty = c.run("");
  REQUIRE(empty.ok());
  CHECK(empty->entries == 0);
  CHECK(c.entries().empty());
}
