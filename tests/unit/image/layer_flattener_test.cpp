#include <sys/stat.h>

#include <cstdio>

#include <catch2/catch.hpp>

#include "image/layer_flattener.h"
#include "image_test_util.h"

using namespace matchlock::image;
using namespace matchlock::image::testing;
namespace fs = std::filesystem;

namespace {

struct Flatten {
  TempDir tmp;
  fs::path staging = tmp / "root";
  int n = 0;
  std::unique_ptr<LayerFlattener> flat;

  Flatten() {
    fs::create_directories(staging);
    auto f = LayerFlattener::create(staging);
    REQUIRE(f.ok());
    flat = std::make_unique<LayerFlattener>(std::move(*f));
  }
  matchlock::Status apply(const std::string& tar) {
    fs::path p = tmp / ("layer" + std::to_string(n++) + ".tar");
    write_file(p, tar);
    return flat->apply_layer(p);
  }
  bool exists(const std::string& rel) const {
    struct stat st {};
    return ::lstat((staging / rel).c_str(), &st) == 0;
  }
  std::string read(const std::string& rel) const { return read_file(staging / rel); }
};

std::string base_layer() {
  return TarBuilder()
      .dir("etc")
      .file("etc/removeme.txt", "bye")
      .file("etc/motd", "v1")
      .dir("opt/app")
      .file("opt/app/old1", "1")
      .file("opt/app/old2", "2")
      .dir("opt/app/sub")
      .file("opt/app/sub/lower", "l")
      .dir("opt/keep")
      .file("opt/keep/keep.txt", "k")
      .dir("usr/bin")
      .file("bin/busybox", "elf", 0755)
      .symlink("usr/bin/wget", "/bin/busybox")
      .finish();
}

}  // namespace

TEST_CASE("whiteouts delete lower paths, including a symlink, without following it",
          "[image][flatten]") {
  Flatten f;
  REQUIRE(f.apply(base_layer()).ok());
  auto st = f.apply(TarBuilder()
                        .file("etc/.wh.removeme.txt", "")
                        .file("usr/bin/.wh.wget", "")
                        .file("etc/motd", "v2")
                        .file("etc/added.txt", "new")
                        .finish());
  REQUIRE(st.ok());
  CHECK_FALSE(f.exists("etc/removeme.txt"));
  CHECK_FALSE(f.exists("usr/bin/wget"));
  CHECK(f.exists("bin/busybox"));  // the link's target is untouched
  CHECK(f.read("etc/motd") == "v2");
  CHECK(f.read("etc/added.txt") == "new");
  CHECK_FALSE(f.exists("etc/.wh.removeme.txt"));
  CHECK(f.flat->metadata().count("etc/removeme.txt") == 0);
  CHECK(f.flat->stats().whiteouts == 2);
}

TEST_CASE("an opaque marker listed before the layer's new entries empties the lower directory",
          "[image][flatten]") {
  Flatten f;
  REQUIRE(f.apply(base_layer()).ok());
  REQUIRE(f.apply(TarBuilder()
                      .file("opt/app/.wh..wh..opq", "")
                      .file("opt/app/new.txt", "n")
                      .file("opt/app/sub/upper", "u")
                      .finish())
              .ok());
  CHECK(f.read("opt/app/new.txt") == "n");
  CHECK(f.read("opt/app/sub/upper") == "u");
  CHECK_FALSE(f.exists("opt/app/old1"));
  CHECK_FALSE(f.exists("opt/app/old2"));
  CHECK_FALSE(f.exists("opt/app/sub/lower"));
  CHECK_FALSE(f.exists("opt/app/.wh..wh..opq"));
  CHECK(f.read("opt/keep/keep.txt") == "k");
}

TEST_CASE("an opaque marker listed after the layer's new entries keeps them", "[image][flatten]") {
  Flatten f;
  REQUIRE(f.apply(base_layer()).ok());
  REQUIRE(f.apply(TarBuilder()
                      .dir("opt/app")
                      .file("opt/app/new.txt", "n")
                      .dir("opt/app/sub")
                      .file("opt/app/sub/upper", "u")
                      .file("opt/app/.wh..wh..opq", "")
                      .finish())
              .ok());
  CHECK(f.read("opt/app/new.txt") == "n");
  CHECK(f.read("opt/app/sub/upper") == "u");
  CHECK_FALSE(f.exists("opt/app/old1"));
  CHECK_FALSE(f.exists("opt/app/sub/lower"));
  CHECK(f.exists("opt/keep/keep.txt"));
}

TEST_CASE("a whiteout does not delete what the same layer adds", "[image][flatten]") {
  Flatten f;
  REQUIRE(f.apply(base_layer()).ok());
  REQUIRE(f.apply(TarBuilder().file("etc/motd", "mine").file("etc/.wh.motd", "").finish()).ok());
  CHECK(f.read("etc/motd") == "mine");
}

TEST_CASE("hardlinks share an inode and rewriting one in a later layer leaves the other",
          "[image][flatten]") {
  Flatten f;
  REQUIRE(f.apply(TarBuilder()
                      .dir("opt/keep")
                      .file("opt/keep/hard-a", "same", 0640, 5, 6)
                      .hardlink("opt/keep/hard-b", "opt/keep/hard-a")
                      .finish())
              .ok());
  struct stat a {
  }, b{};
  REQUIRE(::lstat((f.staging / "opt/keep/hard-a").c_str(), &a) == 0);
  REQUIRE(::lstat((f.staging / "opt/keep/hard-b").c_str(), &b) == 0);
  CHECK(a.st_ino == b.st_ino);
  CHECK(f.flat->metadata().at("opt/keep/hard-b").uid == 5);
  REQUIRE(f.apply(TarBuilder().file("opt/keep/hard-a", "changed").finish()).ok());
  CHECK(f.read("opt/keep/hard-a") == "changed");
  CHECK(f.read("opt/keep/hard-b") == "same");
}

namespace {

// A ustar header block for one entry (512 bytes), its content padded to blocks, as a hostile
// layer may write it: TarBuilder's libarchive writer drops a hardlink's data.
std::string raw_tar_entry(const std::string& name, char type, int mode, const std::string& data,
                          const std::string& link = "") {
  std::string h(512, '\0');
  auto put = [&h](size_t at, const std::string& v) { h.replace(at, v.size(), v); };
  auto octal = [](uint64_t v, size_t width) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%0*llo", static_cast<int>(width - 1),
                  static_cast<unsigned long long>(v));
    return std::string(buf);
  };
  put(0, name);
  put(100, octal(mode, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(data.size(), 12));
  put(136, octal(1700000000, 12));
  h[156] = type;
  put(157, link);
  put(257, std::string("ustar\0", 6));
  put(263, "00");
  h.replace(148, 8, 8, ' ');
  unsigned sum = 0;
  for (unsigned char c : h) sum += c;
  put(148, octal(sum, 7));
  std::string out = h + data;
  out.resize((out.size() + 511) / 512 * 512, '\0');
  return out;
}

}  // namespace

// Found by fuzz/layer_flattener: a hardlink entry with data applied its own mode, setuid
// included, to the inode it shares with its target.
TEST_CASE("a hardlink carrying data and a setuid mode changes neither its target nor the host",
          "[image][flatten]") {
  Flatten f;
  REQUIRE(
      f.apply(TarBuilder().dir("usr/bin").file("usr/bin/tool", "#!/bin/sh\n", 0755).finish()).ok());
  // A pax header first: only in pax archives does libarchive read a hardlink's data.
  std::string layer = raw_tar_entry("PaxHeaders/tool2", 'x', 0644, "20 mtime=1700000000\n") +
                      raw_tar_entry("usr/bin/tool2", '1', 04755, "evil", "usr/bin/tool") +
                      std::string(1024, '\0');
  REQUIRE(f.apply(layer).ok());
  struct stat target {
  }, link{};
  REQUIRE(::lstat((f.staging / "usr/bin/tool").c_str(), &target) == 0);
  REQUIRE(::lstat((f.staging / "usr/bin/tool2").c_str(), &link) == 0);
  CHECK(target.st_ino == link.st_ino);
  CHECK((target.st_mode & (S_ISUID | S_ISGID | S_ISVTX)) == 0);
  CHECK(f.read("usr/bin/tool") == "#!/bin/sh\n");
  CHECK(f.flat->metadata().at("usr/bin/tool2").mode == (S_IFREG | 0755));
}

// Found by fuzz/layer_flattener: libarchive writes a symlink entry without a target as a
// regular file with the entry's mode, so a layer planted a sticky (or setuid) file on the host.
TEST_CASE("a symlink without a target is refused and leaves no special bit on the host",
          "[image][flatten]") {
  Flatten f;
  std::string layer = raw_tar_entry("etc/", '5', 0755, "") +
                      raw_tar_entry("etc/odd", '2', 01510, "", "") + std::string(1024, '\0');
  auto applied = f.apply(layer);
  REQUIRE_FALSE(applied.ok());
  CHECK(applied.error().message == "layer entry \"etc/odd\" is a symbolic link without a target");
  CHECK_FALSE(f.exists("etc/odd"));
  // Every other symlink still works (its mode is sanitised like a file's, and ignored).
  Flatten g;
  REQUIRE(g.apply(raw_tar_entry("lnk", '2', 06777, "", "target") + std::string(1024, '\0')).ok());
  CHECK(fs::read_symlink(g.staging / "lnk") == "target");
}

TEST_CASE("an error quotes a registry's long entry name by its start only", "[image][flatten]") {
  Flatten f;
  const std::string name = "../" + std::string(3000, 'a');
  auto applied = f.apply(TarBuilder().file(name, "x").finish());
  REQUIRE_FALSE(applied.ok());
  CHECK(applied.error().message ==
        "layer entry \"../" + std::string(197, 'a') + "... (3003 bytes)\" escapes the root");
}

TEST_CASE("absolute symlinks are never followed onto the host", "[image][flatten]") {
  TempDir host;
  write_file(host / "victim/secret", "host data");
  Flatten f;
  REQUIRE(f.apply(TarBuilder().symlink("etc", (host / "victim").string()).finish()).ok());
  // Writing through the link is refused; a whiteout through it is a no-op.
  auto st = f.apply(TarBuilder().file("etc/secret", "pwned").finish());
  CHECK_FALSE(st.ok());
  CHECK(f.apply(TarBuilder().file("etc/.wh.secret", "").finish()).ok());
  CHECK(f.apply(TarBuilder().file("etc/.wh..wh..opq", "").finish()).ok());
  CHECK(read_file(host / "victim/secret") == "host data");
  // Replacing the link itself removes only the link.
  REQUIRE(f.apply(TarBuilder().dir("etc").file("etc/secret", "image").finish()).ok());
  CHECK(f.read("etc/secret") == "image");
  CHECK(read_file(host / "victim/secret") == "host data");
}

TEST_CASE("entries escaping the root are rejected", "[image][flatten]") {
  TempDir host;
  Flatten f;
  auto st = f.apply(TarBuilder().file("../escape", "x").finish());
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("escape") != std::string::npos);
  CHECK_FALSE(fs::exists(f.tmp / "escape"));
  CHECK_FALSE(f.apply(TarBuilder().file("a", "x").hardlink("b", "../../etc/passwd").finish()).ok());
  // A leading "/" is relative to the image root, as in docker.
  REQUIRE(f.apply(TarBuilder().file("/abs.txt", "in").finish()).ok());
  CHECK(f.read("abs.txt") == "in");
}

TEST_CASE("long and non-ASCII names survive", "[image][flatten]") {
  Flatten f;
  std::string long_name = "opt/" + std::string(150, 'l') + "/" + std::string(120, 'n') + ".txt";
  REQUIRE(f.apply(TarBuilder().file(long_name, "long").file("opt/ünïcödé.txt", "u").finish()).ok());
  CHECK(f.read(long_name) == "long");
  CHECK(f.read("opt/ünïcödé.txt") == "u");
}

TEST_CASE("device nodes and fifos are skipped and counted", "[image][flatten]") {
  Flatten f;
  REQUIRE(
      f.apply(
           TarBuilder().dir("dev").chardev("dev/null").fifo("dev/fifo").file("dev/ok", "").finish())
          .ok());
  CHECK(f.flat->stats().skipped_special == 2);
  CHECK_FALSE(f.exists("dev/null"));
  CHECK(f.exists("dev/ok"));
}

TEST_CASE("tar ownership and modes are recorded, setuid never lands on the host",
          "[image][flatten]") {
  Flatten f;
  REQUIRE(f.apply(TarBuilder()
                      .dir("home/agent", 0700, 1000, 1000)
                      .file("bin/su", "su", 04755)
                      .file("secret", "s", 0000)
                      .finish())
              .ok());
  const auto& m = f.flat->metadata();
  CHECK(m.at("home/agent").uid == 1000);
  CHECK((m.at("home/agent").mode & 07777) == 0700);
  CHECK((m.at("bin/su").mode & 07777) == 04755);
  struct stat st {};
  REQUIRE(::lstat((f.staging / "bin/su").c_str(), &st) == 0);
  CHECK((st.st_mode & 06000) == 0);
  REQUIRE(::lstat((f.staging / "secret").c_str(), &st) == 0);
  CHECK((st.st_mode & 0400) != 0);  // readable for mkfs, fixed in the image
}

TEST_CASE("a lower directory replaced by a file disappears with its contents", "[image][flatten]") {
  Flatten f;
  REQUIRE(f.apply(base_layer()).ok());
  REQUIRE(f.apply(TarBuilder().file("opt/app", "now a file").finish()).ok());
  CHECK(f.read("opt/app") == "now a file");
  CHECK(f.flat->metadata().count("opt/app/old1") == 0);
}

TEST_CASE("a garbage layer is an error, not a crash", "[image][flatten]") {
  Flatten f;
  CHECK_FALSE(f.apply(std::string(1000, '\x7f')).ok());
  std::string tar = TarBuilder().file("a", std::string(5000, 'a')).finish();
  CHECK_FALSE(f.apply(tar.substr(0, 1500)).ok());
}
