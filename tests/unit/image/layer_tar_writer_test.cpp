#include "image/layer_tar_writer.h"

#include <fcntl.h>

#include <catch2/catch.hpp>

#include "layer_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;

namespace {

TarEntry entry(const std::string& path, TarEntryKind kind, uint32_t mode = 0644) {
  TarEntry e;
  e.path = path;
  e.kind = kind;
  e.mode = mode;
  e.mtime = 1700000000;
  return e;
}

// Writes one fixed set of entries of every kind; returns the tar bytes and their digest.
std::pair<std::string, TarDigest> write_sample(const TempDir& tmp, const std::string& name) {
  auto path = tmp / name;
  matchlock::UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  auto w = LayerTarWriter::open(fd.get());
  REQUIRE(w.ok());
  auto dir = entry("etc", TarEntryKind::kDirectory, 0755);
  dir.uid = 12;
  dir.gid = 34;
  REQUIRE(w->add(dir).ok());
  auto file = entry("etc/passwd", TarEntryKind::kFile);
  file.size = 5;
  file.xattrs = {{"user.z", "2"}, {"security.capability", std::string("\0\x01", 2)}};
  REQUIRE(w->add_file(file, "root\n").ok());
  auto link = entry("etc/pw", TarEntryKind::kHardlink);
  link.link = "etc/passwd";
  REQUIRE(w->add(link).ok());
  auto sym = entry("etc/sym", TarEntryKind::kSymlink, 0777);
  sym.link = "/etc/passwd";
  REQUIRE(w->add(sym).ok());
  auto dev = entry("etc/tty", TarEntryKind::kCharDevice, 0620);
  dev.dev_major = 5;
  dev.dev_minor = 1;
  REQUIRE(w->add(dev).ok());
  REQUIRE(w->add(entry("etc/zfifo", TarEntryKind::kFifo)).ok());
  std::string long_name = "opt/" + std::string(200, 'n');
  REQUIRE(w->add(entry("opt", TarEntryKind::kDirectory, 0755)).ok());
  REQUIRE(w->add(entry(long_name, TarEntryKind::kFile)).ok());
  REQUIRE(w->add_opaque_marker("var").ok());
  REQUIRE(w->add_whiteout("var/gone").ok());
  auto d = w->finish();
  REQUIRE(d.ok());
  return {read_file(path), *d};
}

}  // namespace

TEST_CASE("layer tar writer writes every entry kind with numeric owners and no names",
          "[image][layer_tar]") {
  TempDir tmp;
  auto [bytes, digest] = write_sample(tmp, "a.tar");
  CHECK(digest.diff_id == sha256_digest(bytes));
  CHECK(digest.size == static_cast<int64_t>(bytes.size()));
  CHECK(digest.entries == 10);
  CHECK(bytes.size() % 512 == 0);

  auto entries = list_tar(bytes);
  std::string long_name = "opt/" + std::string(200, 'n');
  CHECK(paths_of(entries) == std::vector<std::string>{"etc/", "etc/passwd", "etc/pw", "etc/sym",
                                                      "etc/tty", "etc/zfifo", "opt/", long_name,
                                                      "var/.wh..wh..opq", "var/.wh.gone"});
  for (const auto& e : entries) {
    CHECK(e.uname.empty());
    CHECK(e.gname.empty());
    CHECK(e.mtime_nsec == 0);
    CHECK_FALSE(e.mtime_has_atime);
  }
  CHECK(entries[0].uid == 12);
  CHECK(entries[0].gid == 34);
  CHECK(entries[0].perm == 0755);
  CHECK(entries[1].content == "root\n");
  CHECK(entries[1].xattrs.at("user.z") == "2");
  CHECK(entries[1].xattrs.at("security.capability") == std::string("\0\x01", 2));
  CHECK(entries[2].hardlink == "etc/passwd");
  CHECK(entries[3].symlink == "/etc/passwd");
  CHECK(entries[4].type == AE_IFCHR);
  CHECK(entries[4].dev_major == 5);
  CHECK(entries[4].dev_minor == 1);
  CHECK(entries[5].type == AE_IFIFO);
  CHECK(entries[9].perm == 0);
  CHECK(entries[9].mtime == 0);
  CHECK(entries[9].size == 0);
  // Only SCHILY.xattr records, not libarchive's duplicate LIBARCHIVE.xattr ones.
  CHECK(bytes.find("SCHILY.xattr.user.z") != std::string::npos);
  CHECK(bytes.find("LIBARCHIVE.xattr") == std::string::npos);
}

TEST_CASE("layer tar writer output is byte-identical for the same entries", "[image][layer_tar]") {
  TempDir tmp;
  auto a = write_sample(tmp, "a.tar");
  auto b = write_sample(tmp, "b.tar");
  CHECK(a.first == b.first);
  CHECK(a.second.diff_id == b.second.diff_id);
}

TEST_CASE("tar_path_less keeps a directory's subtree together", "[image][layer_tar]") {
  CHECK(tar_path_less("a", "a/b"));
  CHECK(tar_path_less("a/b", "a-b"));
  CHECK(tar_path_less("a/z", "a-b"));
  CHECK(tar_path_less("a-b", "a0"));
  CHECK_FALSE(tar_path_less("a", "a"));
  CHECK(tar_path_less("B", "a"));
}

TEST_CASE("layer tar writer refuses bad order, names, links and sizes", "[image][layer_tar]") {
  TempDir tmp;
  matchlock::UniqueFd fd(::open((tmp / "x.tar").c_str(), O_WRONLY | O_CREAT, 0644));
  auto w = LayerTarWriter::open(fd.get());
  REQUIRE(w.ok());
  REQUIRE(w->add(entry("b", TarEntryKind::kDirectory)).ok());
  CHECK_FALSE(w->add(entry("a", TarEntryKind::kDirectory)).ok());  // out of order
  CHECK_FALSE(w->add(entry("b", TarEntryKind::kDirectory)).ok());  // duplicate
  CHECK_FALSE(w->add(entry("c/../d", TarEntryKind::kFile)).ok());
  CHECK_FALSE(w->add(entry("/e", TarEntryKind::kFile)).ok());
  CHECK_FALSE(w->add(entry("./e", TarEntryKind::kFile)).ok());
  auto link = entry("f", TarEntryKind::kHardlink);
  link.link = "missing";
  CHECK_FALSE(w->add(link).ok());
  link.link = "b";  // a directory
  CHECK_FALSE(w->add(link).ok());
  auto file = entry("g", TarEntryKind::kFile);
  file.size = 3;
  CHECK_FALSE(w->add(file).ok());             // content missing
  CHECK_FALSE(w->add_file(file, "ab").ok());  // wrong size
  REQUIRE(w->add_file(file, "abc").ok());
  auto d = w->finish();
  REQUIRE(d.ok());
  CHECK(d->entries == 2);
  CHECK_FALSE(w->add(entry("h", TarEntryKind::kFile)).ok());  // after finish
}

TEST_CASE("layer tar writer copies file content from an fd, by offset, hashing it",
          "[image][layer_tar]") {
  TempDir tmp;
  write_file(tmp / "src", "0123456789");
  matchlock::UniqueFd src(::open((tmp / "src").c_str(), O_RDONLY));
  auto out_path = tmp / "o.tar";
  matchlock::UniqueFd out(::open(out_path.c_str(), O_WRONLY | O_CREAT, 0644));
  auto w = LayerTarWriter::open(out.get());
  REQUIRE(w.ok());
  auto file = entry("f", TarEntryKind::kFile);
  file.size = 4;
  Sha256 h;
  REQUIRE(w->add_file(file, src.get(), 3, &h).ok());
  CHECK(h.finish() == sha256_digest("3456"));
  auto short_file = entry("g", TarEntryKind::kFile);
  short_file.size = 20;
  CHECK_FALSE(w->add_file(short_file, src.get(), 0).ok());  // the data ends early
}
