#include "dockerbuild/copy_layer.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "dockerbuild/source_paths.h"
#include "image/layer_test_util.h"

using namespace matchlock::dockerbuild;
using namespace matchlock::image::testing;
namespace fs = std::filesystem;

namespace {

constexpr time_t kMtime = 1600000000;

struct Context {
  TempDir tmp;
  fs::path root = tmp / "ctx";
  fs::path out = tmp / "layer.tar";
  CopyCallbacks callbacks;

  Context() {
    fs::create_directories(root);
    callbacks.lookup_user = [](std::string_view name) -> matchlock::Result<UserIds> {
      if (name == "app") return UserIds{1000, 1001};
      return matchlock::not_found("unable to find user " + std::string(name));
    };
    callbacks.lookup_group = [](std::string_view name) -> matchlock::Result<uint32_t> {
      if (name == "staff") return 50u;
      return matchlock::not_found("unable to find group " + std::string(name));
    };
  }
  void file(const std::string& rel, const std::string& content, mode_t mode = 0644) {
    write_file(root / rel, content);
    ::chmod((root / rel).c_str(), mode);
    touch(rel);
  }
  void dir(const std::string& rel, mode_t mode = 0755) {
    fs::create_directories(root / rel);
    ::chmod((root / rel).c_str(), mode);
    touch(rel);
  }
  void symlink(const std::string& rel, const std::string& target) {
    fs::create_directories((root / rel).parent_path());
    fs::create_symlink(target, root / rel);
    touch(rel);
  }
  void touch(const std::string& rel) {
    struct timespec ts[2] = {{kMtime, 0}, {kMtime, 0}};
    ::utimensat(AT_FDCWD, (root / rel).c_str(), ts, AT_SYMLINK_NOFOLLOW);
  }

  matchlock::Result<CopyLayer> copy(std::vector<std::string> sources, std::string dest,
                                    bool add = false) {
    CopyRequest req;
    req.add = add;
    req.source_root = root;
    req.sources = std::move(sources);
    req.dest = std::move(dest);
    return run(req);
  }
  matchlock::Result<CopyLayer> run(CopyRequest req) {
    req.source_root = root;
    return write_copy_layer(req, callbacks, out);
  }
  std::vector<ListedEntry> entries() const { return list_tar(read_file(out)); }
  std::vector<std::string> paths() const { return paths_of(entries()); }
};

std::string error_of(const matchlock::Result<CopyLayer>& r) {
  return r.ok() ? std::string("(ok)") : r.error().message;
}

}  // namespace

TEST_CASE("copy: a file to a dest without a slash is named dest; parents are created",
          "[build][copy_layer]") {
  Context c;
  c.file("hello.txt", "hi", 0640);
  auto r = c.copy({"hello.txt"}, "/opt/app/greeting");
  REQUIRE(r.ok());
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"opt/", "opt/app/", "opt/app/greeting"});
  CHECK(e[0].perm == 0755);
  CHECK(e[0].uid == 0);
  CHECK(e[0].mtime == 0);
  CHECK(e[2].content == "hi");
  CHECK(e[2].perm == 0640);
  CHECK(e[2].mtime == kMtime);
  CHECK(e[2].uid == 0);  // context files belong to root without --chown
  CHECK(r->diff_id == matchlock::image::sha256_digest(read_file(c.out)));
  CHECK(r->entries == 3);
}

TEST_CASE("copy: dest ending in / or several sources make a directory", "[build][copy_layer]") {
  Context c;
  c.file("a.txt", "a");
  c.file("b.txt", "b");
  REQUIRE(c.copy({"a.txt"}, "/dst/").ok());
  CHECK(c.paths() == std::vector<std::string>{"dst/", "dst/a.txt"});

  auto no_slash = c.copy({"a.txt", "b.txt"}, "/dst");
  REQUIRE_FALSE(no_slash.ok());
  CHECK(error_of(no_slash).find("must be a directory and end with a /") != std::string::npos);
  CHECK_FALSE(fs::exists(c.out));

  REQUIRE(c.copy({"a.txt", "b.txt"}, "/dst/").ok());
  CHECK(c.paths() == std::vector<std::string>{"dst/", "dst/a.txt", "dst/b.txt"});

  // A wildcard matching several files makes dest a directory even without the slash.
  REQUIRE(c.copy({"*.txt"}, "/many").ok());
  CHECK(c.paths() == std::vector<std::string>{"many/", "many/a.txt", "many/b.txt"});
}

TEST_CASE("copy: a directory source copies its contents, symlinks as symlinks",
          "[build][copy_layer]") {
  Context c;
  c.dir("src/sub", 0750);
  c.file("src/sub/f", "f", 0600);
  c.file("src/top", "t");
  c.symlink("src/link", "/etc/passwd");
  c.dir("src", 0700);
  auto r = c.copy({"src"}, "/app");
  REQUIRE(r.ok());
  auto e = c.entries();
  CHECK(paths_of(e) ==
        std::vector<std::string>{"app/", "app/link", "app/sub/", "app/sub/f", "app/top"});
  CHECK(find_entry(e, "app/")->perm == 0700);  // dest takes the source directory's metadata
  CHECK(find_entry(e, "app/link")->symlink == "/etc/passwd");
  CHECK(find_entry(e, "app/sub/")->perm == 0750);
  CHECK(find_entry(e, "app/sub/f")->mtime == kMtime);

  REQUIRE(c.copy({"."}, "/").ok());
  CHECK(c.paths() ==
        std::vector<std::string>{"src/", "src/link", "src/sub/", "src/sub/f", "src/top"});
}

TEST_CASE("copy: wildcards match per component", "[build][copy_layer]") {
  Context c;
  c.file("a1.txt", "1");
  c.file("a2.txt", "2");
  c.file("b.txt", "b");
  c.file("dir1/x.conf", "x");
  c.file("dir2/x.conf", "y");
  c.file(".hidden", "h");
  REQUIRE(c.copy({"a?.txt"}, "/o/").ok());
  CHECK(c.paths() == std::vector<std::string>{"o/", "o/a1.txt", "o/a2.txt"});
  REQUIRE(c.copy({"[ab]*.txt"}, "/o/").ok());
  CHECK(c.paths() == std::vector<std::string>{"o/", "o/a1.txt", "o/a2.txt", "o/b.txt"});
  REQUIRE(c.copy({"[^a]*"}, "/o/").ok());
  // dir1 and dir2 match too: a directory's contents are copied, the later x.conf wins.
  CHECK(c.paths() == std::vector<std::string>{"o/", "o/.hidden", "o/b.txt", "o/x.conf"});
  REQUIRE(c.copy({"dir*/x.conf"}, "/o/").ok());  // same name twice: the later one wins
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"o/", "o/x.conf"});
  CHECK(e[1].content == "y");
  auto none = c.copy({"*.nomatch"}, "/o/");
  REQUIRE(none.ok());  // as BuildKit: an empty wildcard is not an error
  CHECK(c.paths().empty());
}

TEST_CASE("copy: glob component matching follows Go's filepath.Match", "[build][copy_layer]") {
  CHECK(component_matches("*", ".x"));
  CHECK(component_matches("a*b*c", "aXbYc"));
  CHECK_FALSE(component_matches("a*b", "acd"));
  CHECK(component_matches("[a-c]x", "bx"));
  CHECK_FALSE(component_matches("[^a-c]x", "bx"));
  CHECK(component_matches("\\*", "*"));
  CHECK_FALSE(component_matches("\\*", "a"));
  CHECK(component_matches("?", "é"));  // one character, two bytes
  CHECK_FALSE(component_matches("[a", "a"));
  CHECK_FALSE(component_matches("a\\", "a\\"));  // Go: a trailing escape is a bad pattern
  CHECK(component_matches("a**", "abc"));
  CHECK(component_matches("*[0-9]?", "ab12"));
  CHECK(component_matches("é*", "éé"));
  // A Dockerfile's COPY pattern against a build context's names: trying every split for every
  // star was exponential in the stars; the greedy match is pattern x name.
  const std::string as(250, 'a');
  CHECK_FALSE(component_matches("*a*a*a*a*a*a*a*a*a*a*a*a*b", as));
  CHECK(component_matches("*a*a*a*a*a*a*a*a*a*a*a*a*b", as + "b"));
  CHECK(has_wildcard("a[b]"));
  CHECK_FALSE(has_wildcard("a\\*b"));
}

TEST_CASE("copy: missing, escaping and URL sources are errors naming them", "[build][copy_layer]") {
  Context c;
  auto missing = c.copy({"nope"}, "/x");
  REQUIRE_FALSE(missing.ok());
  CHECK(error_of(missing) == "COPY failed: file not found in build context: nope");
  auto up = c.copy({"../etc/passwd"}, "/x");
  REQUIRE_FALSE(up.ok());
  CHECK(error_of(up).find("outside the build context: ../etc/passwd") != std::string::npos);
  auto url = c.copy({"https://example.com/f"}, "/x", true);
  REQUIRE_FALSE(url.ok());
  CHECK(error_of(url) == "ADD from a URL is not supported; use RUN curl");
  CHECK_FALSE(c.copy({"http://example.com/f"}, "/x").ok());
}

TEST_CASE("copy: symlinks are resolved inside the root, never out of it", "[build][copy_layer]") {
  Context c;
  c.file("real/data", "d");
  c.symlink("inside", "real");
  c.symlink("abs", "/real");  // absolute: from the root, not the host's /
  c.symlink("outside", "../..");
  c.symlink("file-link", "real/data");
  REQUIRE(c.copy({"inside/data"}, "/a").ok());
  CHECK(c.entries().back().content == "d");
  REQUIRE(c.copy({"abs/data"}, "/a").ok());
  CHECK(c.entries().back().content == "d");
  REQUIRE(c.copy({"file-link"}, "/dst/").ok());  // a named source link is followed
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"dst/", "dst/file-link"});
  CHECK(e[1].content == "d");
  auto escape = c.copy({"outside/etc/passwd"}, "/x");
  REQUIRE_FALSE(escape.ok());
  CHECK(error_of(escape).find("outside/etc/passwd") != std::string::npos);
}

TEST_CASE("copy: --chown and --chmod", "[build][copy_layer]") {
  Context c;
  c.dir("d");
  c.file("d/f", "f", 0644);
  c.symlink("d/l", "f");
  CopyRequest req;
  req.sources = {"d"};
  req.dest = "/app/";
  req.chown = "app";
  req.chmod = 0700;
  REQUIRE(c.run(req).ok());
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"app/", "app/f", "app/l"});
  CHECK(e[0].uid == 1000);
  CHECK(e[0].gid == 1001);  // the user's primary group
  CHECK(e[0].perm == 0700);
  CHECK(e[1].uid == 1000);
  CHECK(e[1].perm == 0700);
  CHECK(e[2].perm == 0777);  // a symlink keeps its own mode

  req.chown = "app:staff";
  REQUIRE(c.run(req).ok());
  CHECK(c.entries()[1].gid == 50);
  req.chown = "1234";
  REQUIRE(c.run(req).ok());
  CHECK(c.entries()[1].uid == 1234);
  CHECK(c.entries()[1].gid == 1234);
  req.chown = "12:34";
  REQUIRE(c.run(req).ok());
  CHECK(c.entries()[1].gid == 34);
  req.chown = "nobody-here";
  CHECK_FALSE(c.run(req).ok());
  req.chown = "app:";
  CHECK_FALSE(c.run(req).ok());
}

TEST_CASE("copy: ignored paths are not in the context", "[build][copy_layer]") {
  Context c;
  c.file("keep", "k");
  c.file("secret.env", "s");
  c.file("node_modules/x/index.js", "x");
  c.file("node_modules/keep.me", "m");
  c.callbacks.excluded = [](std::string_view rel) {
    return rel == "secret.env" || rel == "node_modules" ||
           (rel.starts_with("node_modules/") && rel != "node_modules/keep.me");
  };
  REQUIRE(c.copy({"."}, "/app/").ok());
  CHECK(c.paths() == std::vector<std::string>{"app/", "app/keep"});
  CHECK_FALSE(c.copy({"secret.env"}, "/x").ok());

  c.callbacks.may_include_below = [](std::string_view dir) { return dir == "node_modules"; };
  REQUIRE(c.copy({"."}, "/app/").ok());
  CHECK(c.paths() == std::vector<std::string>{"app/", "app/keep", "app/node_modules/",
                                              "app/node_modules/keep.me"});
}

TEST_CASE("copy: the image's directories decide dest and parent metadata", "[build][copy_layer]") {
  Context c;
  c.file("tool", "t", 0755);
  c.callbacks.existing_dir =
      [](std::string_view path) -> std::optional<matchlock::image::EntryMeta> {
    if (path == "usr" || path == "usr/bin") return matchlock::image::EntryMeta{0, 0, 040755, 7, 0};
    if (path == "tmp") return matchlock::image::EntryMeta{0, 0, 041777, 8, 0};
    return std::nullopt;
  };
  REQUIRE(c.copy({"tool"}, "/usr/bin").ok());  // an image directory: the file goes inside
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"usr/", "usr/bin/", "usr/bin/tool"});
  CHECK(e[1].mtime == 7);
  REQUIRE(c.copy({"tool"}, "/tmp/x/tool").ok());
  e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"tmp/", "tmp/x/", "tmp/x/tool"});
  CHECK(e[0].perm == 01777);  // /tmp stays what it was
  CHECK(e[1].perm == 0755);
}

TEST_CASE("copy: the destination follows the image's symlinks", "[build][copy_layer]") {
  Context c;
  c.file("tool", "t", 0755);
  c.callbacks.resolve_dest = [](std::string_view path) -> matchlock::Result<std::string> {
    if (path.starts_with("bin/")) return "usr/" + std::string(path);
    return std::string(path);
  };
  REQUIRE(c.copy({"tool"}, "/bin/tool").ok());
  CHECK(c.paths() == std::vector<std::string>{"usr/", "usr/bin/", "usr/bin/tool"});
  c.callbacks.resolve_dest = [](std::string_view) -> matchlock::Result<std::string> {
    return std::string("../../etc");
  };
  CHECK_FALSE(c.copy({"tool"}, "/x").ok());
}

TEST_CASE("copy: ADD extracts local tar archives, literally and confined", "[build][copy_layer]") {
  Context c;
  write_file(c.root / "app.tar.gz", TarBuilder(Compression::kGzip)
                                        .dir("pkg", 0755, 5, 6)
                                        .file("pkg/run.sh", "#!/bin/sh\n", 0755, 5, 6)
                                        .file("pkg/.wh.literal", "")
                                        .hardlink("pkg/again.sh", "pkg/run.sh")
                                        .symlink("pkg/cur", "run.sh")
                                        .finish());
  REQUIRE(c.copy({"app.tar.gz"}, "/opt", true).ok());
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"opt/", "opt/pkg/", "opt/pkg/.wh.literal",
                                                "opt/pkg/again.sh", "opt/pkg/cur",
                                                "opt/pkg/run.sh"});
  CHECK(find_entry(e, "opt/pkg/run.sh")->content == "#!/bin/sh\n");
  CHECK(find_entry(e, "opt/pkg/run.sh")->uid == 5);  // the archive's owner stands
  CHECK(find_entry(e, "opt/pkg/again.sh")->content == "#!/bin/sh\n");
  CHECK(find_entry(e, "opt/pkg/cur")->symlink == "run.sh");

  // COPY never extracts.
  REQUIRE(c.copy({"app.tar.gz"}, "/opt/").ok());
  CHECK(c.paths() == std::vector<std::string>{"opt/", "opt/app.tar.gz"});
  // Not an archive: ADD copies the file.
  c.file("notes.gz", "not gzip at all");
  REQUIRE(c.copy({"notes.gz"}, "/n/", true).ok());
  CHECK(c.paths() == std::vector<std::string>{"n/", "n/notes.gz"});

  write_file(c.root / "evil.tar", TarBuilder().file("../../etc/passwd", "x").finish());
  auto evil = c.copy({"evil.tar"}, "/opt", true);
  REQUIRE_FALSE(evil.ok());
  CHECK(error_of(evil).find("../../etc/passwd") != std::string::npos);
}

TEST_CASE("copy: heredoc sources and the input digest", "[build][copy_layer]") {
  Context c;
  c.file("f", "one");
  auto a = c.copy({"f"}, "/f");
  REQUIRE(a.ok());
  auto a_tar = read_file(c.out);
  auto b = c.copy({"f"}, "/f");
  REQUIRE(b.ok());
  CHECK(a->input_digest == b->input_digest);
  CHECK(a->diff_id == b->diff_id);
  CHECK(read_file(c.out) == a_tar);
  c.file("f", "two");
  auto changed = c.copy({"f"}, "/f");
  REQUIRE(changed.ok());
  CHECK(changed->input_digest != a->input_digest);

  CopyRequest req;
  req.sources = {"EOF"};
  req.inline_files = {{"EOF", "hello\n"}};
  req.dest = "/etc/motd";
  REQUIRE(c.run(req).ok());
  auto e = c.entries();
  CHECK(paths_of(e) == std::vector<std::string>{"etc/", "etc/motd"});
  CHECK(e[1].content == "hello\n");
  CHECK(e[1].perm == 0644);
}
