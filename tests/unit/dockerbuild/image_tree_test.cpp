#include "dockerbuild/image_tree.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "image/image_test_util.h"

using namespace matchlock::dockerbuild;
using matchlock::image::testing::Compression;
using matchlock::image::testing::TarBuilder;
using matchlock::image::testing::TempDir;
using matchlock::image::testing::write_file;

namespace {

constexpr const char* kDebianPasswd =
    "root:x:0:0:root:/root:/bin/bash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    "_apt:x:42:65534::/nonexistent:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "app:x:1000:1000:App User,,,:/home/app:/bin/bash\n";

constexpr const char* kDebianGroup =
    "root:x:0:\n"
    "daemon:x:1:\n"
    "adm:x:4:\n"
    "sudo:x:27:app,ops\n"
    "users:x:100:\n"
    "nogroup:x:65534:\n"
    "app:x:1000:\n";

// Layers written to files in a temp dir and added to one tree, in order.
struct Layers {
  TempDir tmp;
  ImageTree tree;
  int count = 0;

  void add(TarBuilder& tar) {
    auto blob = tmp / ("layer-" + std::to_string(count++));
    write_file(blob, tar.finish());
    auto added = tree.add_layer(blob);
    REQUIRE(added.ok());
  }
  std::string resolved(std::string_view path) const {
    auto r = tree.resolve(path);
    REQUIRE(r.ok());
    return *r;
  }
};

}  // namespace

TEST_CASE("image tree: directories of plain and gzip layers", "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  base.dir("etc", 0755)
      .dir("home", 0755)
      .dir("home/app", 0750, 1000, 1000)
      .file("etc/hostname", "box\n");
  l.add(base);
  TarBuilder upper(Compression::kGzip);
  upper.dir("srv", 0700, 33, 33, 1700000123).dir("srv/www", 02775, 33, 50);
  l.add(upper);

  auto root = l.tree.directory("");
  REQUIRE(root);
  CHECK(S_ISDIR(root->mode));

  auto app = l.tree.directory("home/app");
  REQUIRE(app);
  CHECK(S_ISDIR(app->mode));
  CHECK((app->mode & 07777) == 0750);
  CHECK(app->uid == 1000);
  CHECK(app->gid == 1000);

  auto srv = l.tree.directory("srv");
  REQUIRE(srv);
  CHECK((srv->mode & 07777) == 0700);
  CHECK(srv->uid == 33);
  CHECK(srv->mtime_sec == 1700000123);
  auto www = l.tree.directory("srv/www");
  REQUIRE(www);
  CHECK((www->mode & 07777) == 02775);
  CHECK(www->gid == 50);

  // Files and absent paths are not directories.
  CHECK_FALSE(l.tree.directory("etc/hostname"));
  CHECK_FALSE(l.tree.directory("nope"));
  CHECK_FALSE(l.tree.directory("home/app/nope"));
}

TEST_CASE("image tree: directories a layer leaves implicit are there", "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  // No entries for usr, usr/local or usr/local/bin; srv comes after its child.
  base.file("usr/local/bin/tool", "#!/bin/sh\n", 0755).dir("srv/www").dir("srv", 0700, 33, 33);
  l.add(base);
  for (const char* implicit : {"usr", "usr/local", "usr/local/bin"}) {
    INFO(implicit);
    auto d = l.tree.directory(implicit);
    REQUIRE(d);
    CHECK(d->mode == (S_IFDIR | 0755));
    CHECK(d->uid == 0);
    CHECK(d->gid == 0);
  }
  auto srv = l.tree.directory("srv");
  REQUIRE(srv);
  CHECK((srv->mode & 07777) == 0700);
  CHECK(srv->uid == 33);
  CHECK(l.tree.directory("srv/www"));

  // An implicit parent never replaces what a lower layer has there.
  TarBuilder upper;
  upper.file("srv/www/site/index.html", "").file("usr/local/share/x", "");
  l.add(upper);
  CHECK(l.tree.directory("srv/www/site"));
  CHECK(l.tree.directory("usr/local/share"));
  srv = l.tree.directory("srv");
  REQUIRE(srv);
  CHECK((srv->mode & 07777) == 0700);
  CHECK(srv->uid == 33);
}

TEST_CASE("image tree: a later directory entry updates the metadata and keeps the children",
          "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  base.dir("data", 0755).dir("data/sub", 0755).file("data/sub/f", "x");
  l.add(base);
  TarBuilder upper;
  upper.dir("data", 0700, 5, 6);
  l.add(upper);
  auto data = l.tree.directory("data");
  REQUIRE(data);
  CHECK((data->mode & 07777) == 0700);
  CHECK(data->uid == 5);
  CHECK(l.tree.directory("data/sub"));
}

TEST_CASE("image tree: whiteouts delete a file and a whole tree of the layers below",
          "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  base.dir("opt")
      .file("opt/keep", "k")
      .file("opt/gone", "g")
      .dir("opt/tree")
      .dir("opt/tree/a")
      .dir("opt/tree/a/b")
      .file("opt/tree/a/b/c", "c")
      .dir("opt/treehouse");  // shares a prefix with the deleted tree: stays
  l.add(base);
  TarBuilder upper;
  upper.file("opt/.wh.gone", "").file("opt/.wh.tree", "");
  l.add(upper);

  CHECK(l.tree.directory("opt"));
  CHECK(l.tree.directory("opt/treehouse"));
  CHECK_FALSE(l.tree.directory("opt/tree"));
  CHECK_FALSE(l.tree.directory("opt/tree/a"));
  CHECK_FALSE(l.tree.directory("opt/tree/a/b"));
  // Nothing of the deleted tree is left to resolve through.
  CHECK(l.resolved("opt/tree/a/b/c") == "opt/tree/a/b/c");

  // A later layer can bring the name back, as a fresh directory.
  TarBuilder again;
  again.dir("opt/tree", 0711);
  l.add(again);
  auto tree = l.tree.directory("opt/tree");
  REQUIRE(tree);
  CHECK((tree->mode & 07777) == 0711);
  CHECK_FALSE(l.tree.directory("opt/tree/a"));
}

TEST_CASE("image tree: a whiteout in the same layer as an addition deletes only the lower one",
          "[build][image_tree]") {
  // Listed after the addition, the whiteout still applies to the lower layers only.
  Layers l;
  TarBuilder base;
  base.dir("x").dir("x/old").dir("x/old/sub").file("x/old/f", "");
  l.add(base);
  TarBuilder upper;
  upper.dir("x/old", 0700).file("x/.wh.old", "");
  l.add(upper);
  auto old = l.tree.directory("x/old");
  REQUIRE(old);
  CHECK((old->mode & 07777) == 0700);
  CHECK_FALSE(l.tree.directory("x/old/sub"));
  CHECK(l.tree.directory("x"));
}

TEST_CASE("image tree: an empty whiteout name deletes nothing", "[build][image_tree]") {
  // ".wh." names no entry; it must not be taken for the root.
  Layers l;
  TarBuilder base;
  base.dir("etc").dir("usr").dir("usr/lib");
  l.add(base);
  TarBuilder upper;
  upper.file(".wh.", "").file("usr/.wh.", "");
  l.add(upper);
  CHECK(l.tree.directory("etc"));
  CHECK(l.tree.directory("usr"));
  CHECK(l.tree.directory("usr/lib"));
}

TEST_CASE("image tree: an opaque directory hides the lower layers' entries only",
          "[build][image_tree]") {
  auto marker_first = GENERATE(true, false);
  Layers l;
  TarBuilder base;
  base.dir("var")
      .dir("var/cache")
      .dir("var/cache/old")
      .dir("var/cache/old/deep")
      .file("var/cache/stale", "")
      .dir("var/cachet");  // a sibling sharing the prefix: stays
  l.add(base);
  TarBuilder upper;
  // The marker may come before or after the layer's own entries in the tar.
  if (marker_first) upper.file("var/cache/.wh..wh..opq", "");
  upper.dir("var/cache", 0710).dir("var/cache/new").dir("var/cache/new/inner");
  if (!marker_first) upper.file("var/cache/.wh..wh..opq", "");
  l.add(upper);

  auto cache = l.tree.directory("var/cache");
  REQUIRE(cache);
  CHECK((cache->mode & 07777) == 0710);
  CHECK(l.tree.directory("var/cache/new"));
  CHECK(l.tree.directory("var/cache/new/inner"));
  CHECK_FALSE(l.tree.directory("var/cache/old"));
  CHECK_FALSE(l.tree.directory("var/cache/old/deep"));
  CHECK(l.tree.directory("var/cachet"));
  CHECK(l.tree.directory("var"));
}

TEST_CASE("image tree: a file or link replaces a directory and its tree", "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  base.dir("app").dir("app/lib").dir("app/lib/x").dir("app/libexec").dir("data").dir("data/d");
  l.add(base);
  TarBuilder upper;
  upper.file("app/lib", "now a file").symlink("data", "/srv/data");
  l.add(upper);
  CHECK_FALSE(l.tree.directory("app/lib"));
  CHECK_FALSE(l.tree.directory("app/lib/x"));
  CHECK(l.tree.directory("app/libexec"));
  CHECK(l.tree.directory("app"));
  CHECK_FALSE(l.tree.directory("data"));
  CHECK_FALSE(l.tree.directory("data/d"));
  CHECK(l.resolved("data/d") == "srv/data/d");

  // And a directory can replace the file again.
  TarBuilder back;
  back.dir("app/lib", 0700);
  l.add(back);
  CHECK(l.tree.directory("app/lib"));
  CHECK_FALSE(l.tree.directory("app/lib/x"));
}

TEST_CASE("image tree: resolve follows links inside the image", "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  // Merged /usr, as Debian has it.
  base.dir("usr")
      .dir("usr/bin")
      .dir("usr/lib")
      .dir("usr/lib/x86_64-linux-gnu")
      .symlink("bin", "usr/bin")
      .symlink("lib", "usr/lib")
      .symlink("lib64", "/usr/lib64")
      .dir("usr/lib64")
      .dir("opt")
      .symlink("opt/current", "../opt/v2")
      .dir("opt/v2")
      .symlink("opt/up", "../../../../usr")
      .symlink("opt/abs_up", "/../../etc")
      .symlink("opt/chain", "current/lib")
      .dir("opt/v2/lib")
      .symlink("opt/dot", "./v2/./lib/");
  l.add(base);

  CHECK(l.resolved("") == "");
  CHECK(l.resolved("usr/bin/env") == "usr/bin/env");
  CHECK(l.resolved("bin/sh") == "usr/bin/sh");
  CHECK(l.resolved("lib/x86_64-linux-gnu/libc.so.6") == "usr/lib/x86_64-linux-gnu/libc.so.6");
  CHECK(l.resolved("lib64/ld.so") == "usr/lib64/ld.so");
  CHECK(l.resolved("opt/current/app") == "opt/v2/app");
  CHECK(l.resolved("opt/chain/x.so") == "opt/v2/lib/x.so");
  CHECK(l.resolved("opt/dot/x") == "opt/v2/lib/x");
  // ".." never climbs above the image root, in link targets or in the path.
  CHECK(l.resolved("opt/up/bin") == "usr/bin");
  CHECK(l.resolved("opt/abs_up/passwd") == "etc/passwd");
  CHECK(l.resolved("../../bin/sh") == "usr/bin/sh");
  CHECK(l.resolved("opt/../bin/sh") == "usr/bin/sh");
  // A missing tail is kept as written, through a link too.
  CHECK(l.resolved("bin/new/deeper/file") == "usr/bin/new/deeper/file");
  CHECK(l.resolved("nowhere/at/all") == "nowhere/at/all");
  // The last component stays a link (COPY replaces it, as docker does).
  CHECK(l.resolved("bin") == "bin");
  CHECK(l.resolved("opt/current") == "opt/current");
  // "." in the path is a no-op, and a trailing "." follows the link before it.
  CHECK(l.resolved("./bin/./sh") == "usr/bin/sh");
  CHECK(l.resolved("bin/.") == "usr/bin");
}

TEST_CASE("image tree: links added in a later layer are followed", "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  base.dir("usr").dir("usr/bin").dir("bin");
  l.add(base);
  CHECK(l.resolved("bin/sh") == "bin/sh");
  TarBuilder merge(Compression::kGzip);
  merge.symlink("bin", "usr/bin");
  l.add(merge);
  CHECK(l.resolved("bin/sh") == "usr/bin/sh");
  CHECK_FALSE(l.tree.directory("bin"));
}

TEST_CASE("image tree: a symlink loop is an error", "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  base.symlink("a", "b")
      .symlink("b", "/a")
      .symlink("self", "self")
      .dir("d")
      .symlink("d/up", "../d/up");
  l.add(base);
  CHECK_FALSE(l.tree.resolve("a/x").ok());
  CHECK_FALSE(l.tree.resolve("b/x/y").ok());
  CHECK_FALSE(l.tree.resolve("self/x").ok());
  CHECK_FALSE(l.tree.resolve("d/up/x").ok());
  // As the last component the loop is never followed.
  CHECK(l.resolved("a") == "a");
  CHECK(l.resolved("self") == "self");
}

TEST_CASE("image tree: a long chain of links below the limit resolves", "[build][image_tree]") {
  Layers l;
  TarBuilder base;
  base.dir("end");
  for (int i = 0; i < 30; ++i) {
    base.symlink("l" + std::to_string(i), i == 29 ? "end" : "l" + std::to_string(i + 1));
  }
  l.add(base);
  CHECK(l.resolved("l0/f") == "end/f");
}

TEST_CASE("image tree: passwd and group come from the topmost layer", "[build][image_tree]") {
  Layers l;
  CHECK(l.tree.passwd().empty());
  CHECK(l.tree.group().empty());

  TarBuilder base;
  base.dir("etc")
      .file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
      .file("etc/group", "root:x:0:\n");
  l.add(base);
  CHECK(l.tree.passwd() == "root:x:0:0:root:/root:/bin/sh\n");
  CHECK(l.tree.group() == "root:x:0:\n");

  TarBuilder useradd(Compression::kGzip);
  useradd.file("etc/passwd", kDebianPasswd).file("etc/group", kDebianGroup);
  l.add(useradd);
  CHECK(l.tree.passwd() == kDebianPasswd);
  CHECK(l.tree.group() == kDebianGroup);

  // A layer touching something else keeps them.
  TarBuilder other;
  other.file("etc/hostname", "x\n").file("etc/passwd-", "old");
  l.add(other);
  CHECK(l.tree.passwd() == kDebianPasswd);

  // A whiteout removes each on its own.
  TarBuilder rm_passwd;
  rm_passwd.file("etc/.wh.passwd", "");
  l.add(rm_passwd);
  CHECK(l.tree.passwd().empty());
  CHECK(l.tree.group() == kDebianGroup);
  TarBuilder rm_group;
  rm_group.file("etc/.wh.group", "");
  l.add(rm_group);
  CHECK(l.tree.group().empty());
}

TEST_CASE("image tree: passwd and group go with whatever removes or replaces them",
          "[build][image_tree]") {
  auto with_accounts = [](Layers& l) {
    TarBuilder base;
    base.dir("etc").file("etc/passwd", kDebianPasswd).file("etc/group", kDebianGroup);
    l.add(base);
  };
  SECTION("a whiteout of /etc") {
    Layers l;
    with_accounts(l);
    TarBuilder upper;
    upper.file(".wh.etc", "");
    l.add(upper);
    CHECK(l.tree.passwd().empty());
    CHECK(l.tree.group().empty());
  }
  SECTION("an opaque /etc") {
    Layers l;
    with_accounts(l);
    TarBuilder upper;
    upper.file("etc/.wh..wh..opq", "").file("etc/group", "staff:x:50:\n");
    l.add(upper);
    CHECK(l.tree.passwd().empty());
    CHECK(l.tree.group() == "staff:x:50:\n");
  }
  SECTION("a link in place of the file") {
    Layers l;
    with_accounts(l);
    TarBuilder upper;
    upper.symlink("etc/passwd", "/run/passwd");
    l.add(upper);
    CHECK(l.tree.passwd().empty());
    CHECK(l.tree.group() == kDebianGroup);
  }
  SECTION("/etc replaced by a file") {
    Layers l;
    with_accounts(l);
    TarBuilder upper;
    upper.file("etc", "");
    l.add(upper);
    CHECK(l.tree.passwd().empty());
    CHECK(l.tree.group().empty());
  }
  SECTION("a whiteout and a new file in the same layer") {
    Layers l;
    with_accounts(l);
    TarBuilder upper;
    upper.file("etc/passwd", "app:x:7:7::/:/bin/sh\n").file("etc/.wh.passwd", "");
    l.add(upper);
    CHECK(l.tree.passwd() == "app:x:7:7::/:/bin/sh\n");
  }
  SECTION("a hard link whose content this tree does not read") {
    Layers l;
    with_accounts(l);
    TarBuilder upper;
    upper.file("etc/passwd.new", "app:x:7:7::/:/bin/sh\n").hardlink("etc/passwd", "etc/passwd.new");
    l.add(upper);
    // Never the lower layer's stale content.
    CHECK(l.tree.passwd().empty());
    CHECK(l.tree.group() == kDebianGroup);
  }
}

TEST_CASE("image tree: a large account file is read whole from a gzip layer",
          "[build][image_tree]") {
  std::string passwd;
  for (int i = 0; passwd.size() < 300 * 1024; ++i) {
    passwd += "user" + std::to_string(i) + ":x:" + std::to_string(10000 + i) + ":100::/:/bin/sh\n";
  }
  Layers l;
  TarBuilder layer(Compression::kGzip);
  layer.dir("etc").file("etc/passwd", passwd);
  l.add(layer);
  CHECK(l.tree.passwd() == passwd);
  CHECK(find_user(l.tree.passwd(), "user2000") == std::make_pair(12000u, 100u));

  // Past the limit it is not read at all, and not left stale either.
  TarBuilder huge;
  huge.file("etc/passwd", std::string(4 * 1024 * 1024 + 1, '#'));
  l.add(huge);
  CHECK(l.tree.passwd().empty());
}

TEST_CASE("image tree: unreadable layers are errors", "[build][image_tree]") {
  TempDir tmp;
  ImageTree tree;
  CHECK_FALSE(tree.add_layer(tmp / "missing").ok());
  write_file(tmp / "garbage", std::string(1024, 'z'));
  CHECK_FALSE(tree.add_layer(tmp / "garbage").ok());
  // An empty layer is fine.
  write_file(tmp / "empty", "");
  CHECK(tree.add_layer(tmp / "empty").ok());
}

TEST_CASE("find_user reads Debian passwd lines", "[build][image_tree]") {
  const std::string passwd = kDebianPasswd;
  auto root = find_user(passwd, "root");
  REQUIRE(root);
  CHECK(root->first == 0);
  CHECK(root->second == 0);
  auto app = find_user(passwd, "app");
  REQUIRE(app);
  CHECK(*app == std::make_pair(1000u, 1000u));
  CHECK(find_user(passwd, "_apt") == std::make_pair(42u, 65534u));
  CHECK(find_user(passwd, "nobody") == std::make_pair(65534u, 65534u));
  // Whole names only.
  CHECK_FALSE(find_user(passwd, "ap"));
  CHECK_FALSE(find_user(passwd, "apps"));
  CHECK_FALSE(find_user(passwd, "x"));
  CHECK_FALSE(find_user(passwd, ""));
  CHECK_FALSE(find_user(passwd, "1000"));
  CHECK_FALSE(find_user("", "root"));
  // The last line needs no newline.
  CHECK(find_user("a:x:1:2:::", "a") == std::make_pair(1u, 2u));
  CHECK(find_user("b:x:3:4::/:/bin/sh", "b") == std::make_pair(3u, 4u));
}

TEST_CASE("find_user: malformed lines are not users", "[build][image_tree]") {
  CHECK_FALSE(find_user("bob:x:1000\n", "bob"));
  CHECK_FALSE(find_user("bob:x:1000:\n", "bob"));
  CHECK_FALSE(find_user("bob:x::1000:::\n", "bob"));
  CHECK_FALSE(find_user("bob:x:-1:1000:::\n", "bob"));
  CHECK_FALSE(find_user("bob:x:4294967296:1:::\n", "bob"));
  CHECK_FALSE(find_user("bob:x:12ab:1:::\n", "bob"));
  CHECK_FALSE(find_user("bob:x: 12:1:::\n", "bob"));
  CHECK_FALSE(find_user("bob:x:1:0x10:::\n", "bob"));
  CHECK_FALSE(find_user("bob\n", "bob"));
  CHECK(find_user("bob:x:4294967295:0:::\n", "bob") == std::make_pair(4294967295u, 0u));
}

TEST_CASE("find_group reads Debian group lines with member lists", "[build][image_tree]") {
  const std::string group = kDebianGroup;
  CHECK(find_group(group, "root") == 0u);
  CHECK(find_group(group, "sudo") == 27u);
  CHECK(find_group(group, "nogroup") == 65534u);
  CHECK(find_group(group, "app") == 1000u);
  // Members are not groups.
  CHECK_FALSE(find_group(group, "ops"));
  CHECK_FALSE(find_group(group, "su"));
  CHECK_FALSE(find_group(group, ""));
  CHECK_FALSE(find_group("", "root"));
  // gshadow-less three-field lines and lines without a final newline.
  CHECK(find_group("wheel:x:10", "wheel") == 10u);
  CHECK(find_group("a:x:1:\nb:x:2:b1,b2", "b") == 2u);
}

TEST_CASE("find_group: malformed lines are not groups", "[build][image_tree]") {
  CHECK_FALSE(find_group("staff:x::\n", "staff"));
  CHECK_FALSE(find_group("staff:x:fifty:\n", "staff"));
  CHECK_FALSE(find_group("staff:x:-50:\n", "staff"));
  CHECK_FALSE(find_group("staff:x:99999999999:\n", "staff"));
  CHECK_FALSE(find_group("staff:x:50 :\n", "staff"));
  CHECK_FALSE(find_group("staff:x\n", "staff"));
  CHECK_FALSE(find_group("staff\n", "staff"));
}
