#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <regex>

#include "image/ext4_builder.h"
#include "image/image_store.h"
#include "image_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;
namespace fs = std::filesystem;

namespace {

std::string two_layer_oci_archive() {
  std::string l1 = TarBuilder(Compression::kGzip)
                       .dir("etc", 0755, 0, 0, 1600000000)
                       .file("etc/passwd", "root:x:0:0::/root:/bin/sh\n", 0644, 0, 0, 1600000001)
                       .file("etc/removeme", "x")
                       .dir("home/agent", 0700, 1000, 1000, 1600000002)
                       .file("home/agent/notes", "n", 0640, 1000, 1001, 1600000003)
                       .file("bin/su", "su", 04755)
                       .symlink("bin/sh", "/bin/busybox")
                       .file("opt/with space", "s", 0600, 7, 8)
                       .file("opt/q\"uote", "q", 0600, 9, 10)
                       .file("opt/ünïcödé", "u", 0644, 11, 12)
                       .file("opt/hard-a", "h", 0644, 13, 14)
                       .hardlink("opt/hard-b", "opt/hard-a")
                       .fifo("opt/fifo")
                       .file_with_xattr("opt/tagged", "t", "user.matchlock", "kept")
                       .finish();
  std::string l2 = TarBuilder().file("etc/.wh.removeme", "").file("etc/motd", "v2").finish();
  std::string d1 = sha256_digest(l1), d2 = sha256_digest(l2);
  std::string cfg = config_json({d1, d2});
  std::string dc = sha256_digest(cfg);
  auto desc = [](const std::string& mt, const std::string& d, size_t n) {
    return R"({"mediaType":")" + mt + R"(","digest":")" + d + R"(","size":)" + std::to_string(n) +
           "}";
  };
  std::string man = R"({"schemaVersion":2,"config":)" +
                    desc("application/vnd.oci.image.config.v1+json", dc, cfg.size()) +
                    R"(,"layers":[)" +
                    desc("application/vnd.oci.image.layer.v1.tar+gzip", d1, l1.size()) + "," +
                    desc("application/vnd.oci.image.layer.v1.tar", d2, l2.size()) + "]}";
  std::string dm = sha256_digest(man);
  return TarBuilder()
      .file("oci-layout", R"({"imageLayoutVersion":"1.0.0"})")
      .file("index.json", R"({"schemaVersion":2,"manifests":[)" +
                              desc("application/vnd.oci.image.manifest.v1+json", dm, man.size()) +
                              "]}")
      .file("blobs/sha256/" + hex_of(dm), man)
      .file("blobs/sha256/" + hex_of(dc), cfg)
      .file("blobs/sha256/" + hex_of(d1), l1)
      .file("blobs/sha256/" + hex_of(d2), l2)
      .finish();
}

struct Stat {
  std::string raw;
  std::string field(const std::string& re) const {
    std::smatch m;
    if (std::regex_search(raw, m, std::regex(re))) return m[1];
    return "<none>";
  }
  std::string user() const { return field(R"(User:\s+(\d+))"); }
  std::string group() const { return field(R"(Group:\s+(\d+))"); }
  std::string mode() const { return field(R"(Mode:\s+(\d+))"); }
  std::string type() const { return field(R"(Type:\s+(\w+))"); }
  std::string mtime() const { return field(R"(mtime:\s+0x([0-9a-f]+))"); }
  std::string inode() const { return field(R"(Inode:\s+(\d+))"); }
};

Stat dstat(const fs::path& img, const std::string& path) {
  return Stat{debugfs_cmd(img, "stat \"" + path + "\"")};
}

bool have_e2fsprogs() {
  return matchlock::find_program("mkfs.ext4").ok() && matchlock::find_program("debugfs").ok();
}

}  // namespace

TEST_CASE("the base disk carries tar ownership, modes, symlinks and mtimes", "[image][disk]") {
  if (!have_e2fsprogs()) {
    WARN("e2fsprogs missing: skipped");
    return;
  }
  TempDir tmp;
  auto store = ImageStore::open(tmp / "images");
  REQUIRE(store.ok());
  write_file(tmp / "a.tar", two_layer_oci_archive());
  auto rec = (*store)->import_archive("disk-test", tmp / "a.tar");
  REQUIRE(rec.ok());
  auto disk = (*store)->base_disk(*rec);
  REQUIRE(disk.ok());
  CHECK(disk->filename() == hex_of(rec->digest) + ".ext4");

  CHECK(dstat(*disk, "/").user() == "0");
  CHECK(dstat(*disk, "/").mode() == "0755");
  auto home = dstat(*disk, "/home/agent");
  CHECK(home.user() == "1000");
  CHECK(home.group() == "1000");
  CHECK(home.mode() == "0700");
  CHECK(home.mtime() == "5f5e1002");  // 1600000002
  auto notes = dstat(*disk, "/home/agent/notes");
  CHECK(notes.user() == "1000");
  CHECK(notes.group() == "1001");
  CHECK(notes.mode() == "0640");
  CHECK(notes.mtime() == "5f5e1003");
  CHECK(dstat(*disk, "/etc/passwd").mtime() == "5f5e1001");
  CHECK(dstat(*disk, "/etc").mtime() == "5f5e1000");
  CHECK(dstat(*disk, "/bin/su").mode() == "04755");
  auto sh = dstat(*disk, "/bin/sh");
  CHECK(sh.type() == "symlink");
  CHECK(sh.raw.find("/bin/busybox") != std::string::npos);
  CHECK(dstat(*disk, "/opt/with space").user() == "7");
  CHECK(dstat(*disk, "/opt/q\"\"uote").group() == "10");
  CHECK(dstat(*disk, "/opt/ünïcödé").user() == "11");
  CHECK(dstat(*disk, "/opt/hard-a").inode() == dstat(*disk, "/opt/hard-b").inode());
  CHECK(dstat(*disk, "/opt/hard-b").user() == "13");
  CHECK(dstat(*disk, "/etc/removeme").raw.empty());  // whited out in layer 2
  CHECK(debugfs_cmd(*disk, "cat /etc/motd") == "v2");
  CHECK(dstat(*disk, "/opt/fifo").raw.empty());
  CHECK(debugfs_cmd(*disk, "ea_get /opt/tagged user.matchlock").find("kept") != std::string::npos);
  // Staging and temp files are gone.
  CHECK(fs::is_empty(tmp / "images" / "tmp"));
}

TEST_CASE("a second base_disk call reuses the disk and extracts nothing", "[image][disk]") {
  if (!have_e2fsprogs()) {
    WARN("e2fsprogs missing: skipped");
    return;
  }
  TempDir tmp;
  auto store = ImageStore::open(tmp / "images");
  REQUIRE(store.ok());
  write_file(tmp / "a.tar", two_layer_oci_archive());
  auto rec = (*store)->import_archive("again", tmp / "a.tar");
  REQUIRE(rec.ok());
  auto first = (*store)->base_disk(*rec);
  REQUIRE(first.ok());
  struct stat a {};
  REQUIRE(::stat(first->c_str(), &a) == 0);
  // Remove the layer blobs: a rebuild would now fail, so success proves no extraction ran.
  for (auto& e : fs::directory_iterator(tmp / "images" / "blobs" / "sha256")) {
    if (fs::file_size(e.path()) > 300) fs::remove(e.path());
  }
  auto second = (*store)->base_disk(*rec);
  REQUIRE(second.ok());
  CHECK(*second == *first);
  struct stat b {};
  REQUIRE(::stat(second->c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  CHECK(a.st_mtim.tv_sec == b.st_mtim.tv_sec);
  CHECK(a.st_mtim.tv_nsec == b.st_mtim.tv_nsec);
}

TEST_CASE("base_disk verifies layer blobs before using them", "[image][disk]") {
  TempDir tmp;
  auto store = ImageStore::open(tmp / "images");
  REQUIRE(store.ok());
  write_file(tmp / "a.tar", two_layer_oci_archive());
  auto rec = (*store)->import_archive("verify", tmp / "a.tar");
  REQUIRE(rec.ok());
  for (auto& e : fs::directory_iterator(tmp / "images" / "blobs" / "sha256")) {
    if (fs::file_size(e.path()) > 300) {
      fs::permissions(e.path(), fs::perms::owner_write, fs::perm_options::add);
      write_file(e.path(), "tampered");
    }
  }
  auto disk = (*store)->base_disk(*rec);
  REQUIRE_FALSE(disk.ok());
  CHECK(disk.error().message.find("verify:latest") != std::string::npos);
  CHECK(disk.error().message.find("corrupt") != std::string::npos);
  CHECK(fs::is_empty(tmp / "images" / "disks"));
}

TEST_CASE("debugfs quoting doubles quotes and refuses newlines", "[image][disk]") {
  CHECK(*debugfs_quote("/a b") == "\"/a b\"");
  CHECK(*debugfs_quote("/q\"x") == "\"/q\"\"x\"");
  CHECK_FALSE(debugfs_quote("/new\nline").ok());
}
