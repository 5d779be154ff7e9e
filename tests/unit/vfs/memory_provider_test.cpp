#include <catch2/catch.hpp>

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include "vfs/memory_provider.h"

using namespace matchlock::vfs;

namespace {

std::string read_all(FileHandle& h) {
  std::string buf(1024, '\0');
  auto n = h.read(0, std::span<char>(buf.data(), buf.size()));
  REQUIRE(n);
  buf.resize(*n);
  return buf;
}

void put(MemoryProvider& p, const std::string& path, const std::string& data) {
  auto c = p.create(path, O_WRONLY | O_CREAT | O_TRUNC, 0644, Caller{1000, 1000, 1});
  REQUIRE(c);
  REQUIRE(c->handle->write(0, data));
}

}  // namespace

TEST_CASE("memory_provider_creates_writes_and_reads_files_owned_by_the_caller", "[vfs][memory]") {
  MemoryProvider p;
  put(p, "a", "hello");
  auto a = p.stat("a");
  REQUIRE(a);
  CHECK(S_ISREG(a->mode));
  CHECK(a->size == 5);
  CHECK(a->uid == 1000);
  auto h = p.open("a", O_RDONLY);
  REQUIRE(h);
  CHECK(read_all(**h) == "hello");
  CHECK((*h)->write(0, "x").error() == EBADF);
  CHECK(p.create("a", O_CREAT | O_EXCL | O_WRONLY, 0644, {}).error() == EEXIST);
}

TEST_CASE("memory_provider_unlinked_open_file_keeps_working", "[vfs][memory]") {
  MemoryProvider p;
  put(p, "f", "data");
  auto h = p.open("f", O_RDWR);
  REQUIRE(h);
  REQUIRE(p.unlink("f"));
  CHECK(p.stat("f").error() == ENOENT);
  REQUIRE((*h)->write(4, "more"));
  CHECK(read_all(**h) == "datamore");
  CHECK((*h)->stat()->nlink == 0);
}

TEST_CASE("memory_provider_renames_over_files_and_moves_directories", "[vfs][memory]") {
  MemoryProvider p;
  put(p, "index", "old");
  put(p, "index.lock", "new");
  REQUIRE(p.rename("index.lock", "index", 0));
  auto h = p.open("index", O_RDONLY);
  REQUIRE(h);
  CHECK(read_all(**h) == "new");
  CHECK(p.stat("index.lock").error() == ENOENT);

  REQUIRE(p.mkdir("d", 0755, {}));
  put(p, "d/x", "in d");
  REQUIRE(p.rename("d", "e", 0));
  CHECK(p.stat("e/x"));
  CHECK(p.rename("e", "e/sub", 0).error() == EINVAL);
  put(p, "y", "");
  CHECK(p.rename("y", "index", RENAME_NOREPLACE).error() == EEXIST);
  CHECK(p.rename("y", "index", RENAME_EXCHANGE).error() == EINVAL);
  REQUIRE(p.mkdir("empty", 0755, {}));
  CHECK(p.rename("index", "empty", 0).error() == EISDIR);
  CHECK(p.rename("e", "index", 0).error() == ENOTDIR);
  REQUIRE(p.rename("e", "empty", 0));  // over an empty directory
  CHECK(p.stat("empty/x"));
}

TEST_CASE("memory_provider_rmdir_symlinks_links_and_statfs", "[vfs][memory]") {
  MemoryProvider p;
  REQUIRE(p.mkdir("d", 0755, {}));
  put(p, "d/f", "x");
  CHECK(p.rmdir("d").error() == ENOTEMPTY);
  CHECK(p.rmdir("d/f").error() == ENOTDIR);
  CHECK(p.unlink("d").error() == EISDIR);
  REQUIRE(p.symlink("d/f", "l", {}));
  CHECK(*p.readlink("l") == "d/f");
  CHECK(p.open("l", O_RDONLY).error() == ELOOP);
  CHECK(p.readlink("d/f").error() == EINVAL);
  auto ln = p.link("d/f", "hard");
  REQUIRE(ln);
  CHECK(ln->nlink == 2);
  CHECK(p.link("d", "dl").error() == EPERM);
  CHECK(p.stat("d")->nlink == 2);
  auto fs = p.statfs();
  REQUIRE(fs);
  CHECK(fs->blocks > 0);
  CHECK(fs->blocks_free <= fs->blocks);
  CHECK(fs->files_free < fs->files);
  CHECK(p.stat("d/f/x").error() == ENOTDIR);
  CHECK(p.rmdir("").error() == EBUSY);
}

TEST_CASE("memory_provider_bounds_total_bytes", "[vfs][memory]") {
  MemoryProvider p(MemoryProvider::Limits{1000, 100});
  auto c = p.create("f", O_RDWR | O_CREAT, 0644, {});
  REQUIRE(c);
  CHECK(c->handle->write(0, std::string(900, 'a')));
  CHECK(c->handle->write(900, std::string(200, 'b')).error() == ENOSPC);
  CHECK(c->handle->write(uint64_t{1} << 62, "x").error() == EFBIG);
  AttrChange grow;
  grow.size = 5000;
  CHECK(p.change("f", grow).error() == ENOSPC);
  REQUIRE(p.unlink("f"));
  c->handle.reset();
  put(p, "g", std::string(900, 'c'));  // the budget came back
}

TEST_CASE("memory_provider_change_handles_utime_now_and_omit", "[vfs][memory]") {
  MemoryProvider p;
  put(p, "f", "");
  AttrChange ch;
  ch.mtime = timespec{100, 5};
  ch.atime = timespec{0, UTIME_OMIT};
  ch.mode = 04600;
  auto a = p.change("f", ch);
  REQUIRE(a);
  CHECK(a->mtime.tv_sec == 100);
  CHECK(a->mode == (S_IFREG | 04600));
  ch = {};
  ch.mtime = timespec{0, UTIME_NOW};
  CHECK(p.change("f", ch)->mtime.tv_sec > 100);
}

// A guest can nest directories as deep as it likes with short paths only: make a directory,
// move the chain into it, rename it back. Releasing such a tree recursed once per level and
// overflowed the owner's stack when the sandbox ended.
TEST_CASE("memory_provider_releases_a_tree_deeper_than_the_stack", "[vfs][memory]") {
  const Caller caller{1000, 1000, 1};
  auto p = std::make_unique<MemoryProvider>();
  REQUIRE(p->mkdir("c", 0755, caller));
  constexpr int kDepth = 200000;
  for (int i = 0; i < kDepth; ++i) {
    REQUIRE(p->mkdir("n", 0755, caller));
    REQUIRE(p->rename("c", "n/c", 0));
    REQUIRE(p->rename("n", "c", 0));
  }
  REQUIRE(p->stat("c/c/c/c"));
  p.reset();  // the whole chain is released here
  SUCCEED("released");
}
