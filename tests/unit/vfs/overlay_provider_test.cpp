// OverlayProvider: the guest changes what it likes, the host directory stays byte-identical,
// and the guest's view shows its changes (copy-ups, whiteouts, opaque directories, merges).
#include "vfs/overlay_provider.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "vfs_test_support.h"

using namespace matchlock::vfs;
using namespace vfs_test;

namespace {

struct Fixture {
  TempDir base;
  std::string lower = base / "lower";
  std::string upper = base / "upper";
  std::unique_ptr<OverlayProvider> overlay;
  Caller caller{};

  // lower/: a.txt 0640, big (3.5 MiB, several copy chunks), d/{x,y,sub/z}, e/f, link -> a.txt
  Fixture() {
    REQUIRE(::mkdir(lower.c_str(), 0755) == 0);
    write_host(lower + "/a.txt", "alpha content", 0640);
    std::string big(3 * (1 << 20) + 12345, '\0');
    for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
    write_host(lower + "/big", big, 0600);
    REQUIRE(::mkdir((lower + "/d").c_str(), 0750) == 0);
    write_host(lower + "/d/x", "ex", 0644);
    write_host(lower + "/d/y", "why", 0644);
    REQUIRE(::mkdir((lower + "/d/sub").c_str(), 0755) == 0);
    write_host(lower + "/d/sub/z", "zed", 0644);
    REQUIRE(::mkdir((lower + "/e").c_str(), 0755) == 0);
    write_host(lower + "/e/f", "eff", 0644);
    REQUIRE(::symlink("a.txt", (lower + "/link").c_str()) == 0);
    auto o = OverlayProvider::serve(lower, upper, IdMap{}, false);
    REQUIRE(o.ok());
    overlay = std::move(o.value());
  }

  std::string content(const std::string& path) {
    auto h = overlay->open(path, O_RDONLY);
    REQUIRE(h.ok());
    return read_all(**h);
  }
  std::vector<std::string> names(const std::string& path) {
    auto l = overlay->list(path);
    REQUIRE(l.ok());
    return names_of(*l);
  }
  void write(const std::string& path, uint64_t off, std::string_view data, int flags = O_RDWR) {
    auto h = overlay->open(path, flags);
    REQUIRE(h.ok());
    REQUIRE(*(*h)->write(off, data) == data.size());
  }
};

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("overlay_session_leaves_the_host_directory_untouched", "[vfs][overlay]") {
  Fixture f;
  std::string before = tree_snapshot(f.lower);
  Provider& o = *f.overlay;

  f.write("a.txt", 0, "ALPHA");
  AttrChange chmod;
  chmod.mode = 0600;
  REQUIRE(o.change("d/y", chmod).ok());
  AttrChange truncate;
  truncate.size = 1;
  REQUIRE(o.change("d/x", truncate).ok());
  AttrChange times;
  times.mtime = timespec{1234, 0};
  REQUIRE(o.change("e/f", times).ok());
  REQUIRE(o.change("", chmod).ok());
  REQUIRE(o.unlink("d/sub/z").ok());
  REQUIRE(o.rmdir("d/sub").ok());
  REQUIRE(o.rename("big", "big2", 0).ok());
  REQUIRE(o.rename("d", "d2", 0).ok());
  REQUIRE(o.mkdir("newdir", 0700, f.caller).ok());
  REQUIRE(o.create("newdir/n", O_RDWR, 0644, f.caller).ok());
  REQUIRE(o.rename("link", "newdir/link", 0).ok());
  REQUIRE(o.link("a.txt", "hard").ok());
  REQUIRE(o.symlink("/etc/passwd", "sym", f.caller).ok());
  REQUIRE(o.rename("e/f", "a.txt", 0).ok());  // over an existing lower file
  REQUIRE(o.rmdir("e").ok());
  REQUIRE(o.mkdir("e", 0755, f.caller).ok());
  f.write("big2", 5, "xyz", O_WRONLY | O_TRUNC);

  CHECK(tree_snapshot(f.lower) == before);
  CHECK(f.names("") == Names{"a.txt", "big2", "d2", "e", "hard", "newdir", "sym"});
  CHECK(f.names("d2") == Names{"x", "y"});
  CHECK(f.names("e").empty());
  CHECK(f.content("a.txt") == "eff");
  CHECK(f.content("hard") == "ALPHA content");
  CHECK(f.content("d2/x") == "e");
  CHECK((o.stat("d2/y")->mode & 07777) == 0600);
  CHECK((o.stat("")->mode & 07777) == 0600);
  CHECK(*o.readlink("newdir/link") == "a.txt");
  CHECK(f.content("big2") == std::string(5, '\0') + "xyz");
  CHECK(o.stat("d").error() == ENOENT);
  CHECK(o.stat("big").error() == ENOENT);
  CHECK(o.stat("e/f").error() == ENOENT);
  CHECK(o.open("d2", O_RDWR).error() == EISDIR);
  CHECK(o.open("sym", O_WRONLY).error() == ELOOP);
}

TEST_CASE("overlay_copy_up_preserves_content_mode_and_inode", "[vfs][overlay]") {
  Fixture f;
  Provider& o = *f.overlay;
  auto before = o.stat("big");
  REQUIRE(before.ok());
  std::string lower_big = read_host(f.lower + "/big");
  f.write("big", lower_big.size(), "+end");
  auto after = o.stat("big");
  REQUIRE(after.ok());
  CHECK(after->ino == before->ino);  // git compares st_ino
  CHECK((after->mode & 07777) == 0600);
  CHECK(after->size == lower_big.size() + 4);
  CHECK(f.content("big") == lower_big + "+end");
  CHECK(read_host(f.lower + "/big") == lower_big);
  CHECK(read_host(f.upper + "/big") == lower_big + "+end");
  CHECK(after->mtime.tv_sec >= before->mtime.tv_sec);

  auto a = o.stat("a.txt");
  REQUIRE(o.rename("a.txt", "renamed", 0).ok());
  CHECK(o.stat("renamed")->ino == a->ino);
  auto d = o.stat("d/x");
  REQUIRE(o.rename("d", "moved", 0).ok());
  CHECK(o.stat("moved/x")->ino == d->ino);
  auto h = o.open("moved/x", O_RDWR);
  REQUIRE(h.ok());
  CHECK((*h)->stat()->ino == d->ino);

  auto fresh = o.create("fresh", O_RDWR, 0644, f.caller);
  REQUIRE(fresh.ok());
  CHECK(fresh->attr.ino != 0);
  CHECK(fresh->attr.ino == o.stat("fresh")->ino);
  REQUIRE(o.rename("fresh", "fresh2", 0).ok());
  CHECK(fresh->attr.ino == o.stat("fresh2")->ino);
  std::set<uint64_t> inos;
  auto root = o.list("");
  REQUIRE(root.ok());
  for (auto& e : *root) inos.insert(e.ino);
  CHECK(inos.size() == root->size());
}

TEST_CASE("overlay_whiteouts_opaque_directories_and_merged_listing", "[vfs][overlay]") {
  Fixture f;
  Provider& o = *f.overlay;
  REQUIRE(o.create("d/new", O_RDWR, 0644, f.caller).ok());
  CHECK(f.names("d") == Names{"new", "sub", "x", "y"});  // merged
  REQUIRE(o.unlink("d/x").ok());
  CHECK(f.names("d") == Names{"new", "sub", "y"});
  CHECK(o.stat("d/x").error() == ENOENT);
  CHECK(o.open("d/x", O_RDONLY).error() == ENOENT);
  CHECK(o.rmdir("d").error() == ENOTEMPTY);
  CHECK(o.rmdir("d/sub").error() == ENOTEMPTY);  // only lower entries, still not empty
  CHECK(o.unlink("d/sub").error() == EISDIR);

  // Recreated after deletion: a new, empty file / an opaque directory.
  REQUIRE(o.create("d/x", O_RDWR | O_EXCL, 0644, f.caller).ok());
  CHECK(f.content("d/x").empty());
  REQUIRE(o.unlink("d/sub/z").ok());
  REQUIRE(o.rmdir("d/sub").ok());
  CHECK(o.stat("d/sub/z").error() == ENOENT);
  REQUIRE(o.mkdir("d/sub", 0755, f.caller).ok());
  CHECK(f.names("d/sub").empty());
  CHECK(o.stat("d/sub/z").error() == ENOENT);

  // A lower directory replaced by a file hides everything below it.
  REQUIRE(o.unlink("e/f").ok());
  REQUIRE(o.rmdir("e").ok());
  REQUIRE(o.create("e", O_RDWR, 0644, f.caller).ok());
  CHECK(S_ISREG(o.stat("e")->mode));
  CHECK_FALSE(o.stat("e/f").ok());

  // Rename over an existing directory that is empty in the merged view.
  REQUIRE(o.mkdir("empty", 0755, f.caller).ok());
  REQUIRE(o.unlink("d/sub").error() == EISDIR);
  REQUIRE(o.rename("d", "empty", 0).ok());
  CHECK(f.names("empty") == Names{"new", "sub", "x", "y"});
  CHECK(o.rename("empty", "a.txt", 0).error() == ENOTDIR);
  CHECK(o.rename("a.txt", "empty", 0).error() == EISDIR);
  CHECK(o.rename("a.txt", "link", RENAME_NOREPLACE).error() == EEXIST);
  CHECK(o.rename("empty", "empty/sub/inside", 0).error() == EINVAL);
  REQUIRE(o.rename("a.txt", "link", RENAME_EXCHANGE).ok());
  CHECK(S_ISLNK(o.stat("a.txt")->mode));
  CHECK(f.content("link") == "alpha content");
  CHECK(f.names("") == Names{"a.txt", "big", "e", "empty", "link"});
}

TEST_CASE("overlay_single_file_root_writes_to_an_upper_copy", "[vfs][overlay]") {
  TempDir base;
  std::string file = base / "settings.json";
  write_host(file, "{\"a\":1}", 0640);
  std::string before = tree_snapshot(base.path());
  TempDir upper_base;  // apart, so creating it does not touch base's mtime
  std::string upper = upper_base / "upper";
  auto o = OverlayProvider::serve(file, upper, IdMap{}, false);
  REQUIRE(o.ok());
  Provider& p = **o;
  auto ino = p.stat("")->ino;
  auto h = p.open("", O_RDWR | O_TRUNC);
  REQUIRE(h.ok());
  REQUIRE((*h)->write(0, "{}").ok());
  CHECK(read_all(**h) == "{}");
  CHECK(p.stat("")->size == 2);
  CHECK(p.stat("")->ino == ino);
  CHECK((p.stat("")->mode & 07777) == 0640);
  CHECK(read_host(file) == "{\"a\":1}");
  CHECK(read_host(upper + "/" + OverlayProvider::kUpperFileName) == "{}");
  CHECK(p.stat("x").error() == ENOTDIR);
  CHECK(p.unlink("").error() == EBUSY);
  CHECK(p.create("x", O_RDWR, 0644, Caller{}).error() == ENOTDIR);
  CHECK(tree_snapshot(base.path()) == before);
}

TEST_CASE("overlay_lower_symlinks_do_not_escape", "[vfs][overlay]") {
  Fixture f;
  TempDir outside;
  write_host(outside / "secret", "OUTSIDE", 0644);
  std::string before_outside = tree_snapshot(outside.path());
  // Planted in the lower by its owner; the overlay must neither follow nor copy through it.
  REQUIRE(::symlink(outside.path().c_str(), (f.lower + "/out").c_str()) == 0);
  std::string before = tree_snapshot(f.lower);
  Provider& o = *f.overlay;
  CHECK_FALSE(o.open("out/secret", O_RDONLY).ok());
  CHECK_FALSE(o.open("out/secret", O_RDWR).ok());
  CHECK_FALSE(o.create("out/new", O_RDWR, 0644, f.caller).ok());
  CHECK_FALSE(o.unlink("out/secret").ok());
  AttrChange chmod;
  chmod.mode = 0600;
  CHECK_FALSE(o.change("out", chmod).ok());  // a symlink: not followed, not chmod'able
  REQUIRE(o.rename("out", "out2", 0).ok());  // moves the link itself
  CHECK_FALSE(o.open("out2/secret", O_RDONLY).ok());
  CHECK(tree_snapshot(outside.path()) == before_outside);
  CHECK(tree_snapshot(f.lower) == before);
}
