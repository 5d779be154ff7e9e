// HostDirProvider: the host directory as the guest sees it, and every way out of it refused.
#include "vfs/host_dir_provider.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "vfs_test_support.h"

using namespace matchlock::vfs;
using namespace vfs_test;

namespace {

// root/ is served; outside/ next to it holds what must never be reached.
struct Fixture {
  TempDir base;
  std::string root = base / "root";
  std::string outside = base / "outside";
  std::unique_ptr<HostDirProvider> provider;
  Caller caller{};

  Fixture() {
    REQUIRE(::mkdir(root.c_str(), 0755) == 0);
    REQUIRE(::mkdir(outside.c_str(), 0755) == 0);
    write_host(outside + "/secret", "OUTSIDE", 0644);
    write_host(outside + "/victim", "victim", 0644);
    auto p = HostDirProvider::serve(root, IdMap{}, false);
    REQUIRE(p.ok());
    provider = std::move(p.value());
  }
  std::string outside_snapshot() const { return tree_snapshot(outside); }
};

std::unique_ptr<FileHandle> open_ok(Provider& p, const std::string& path, int flags) {
  auto h = p.open(path, flags);
  REQUIRE(h.ok());
  return std::move(h.value());
}

std::unique_ptr<FileHandle> create_ok(Provider& p, const std::string& path, uint32_t mode = 0644) {
  auto c = p.create(path, O_RDWR | O_EXCL, mode, Caller{});
  REQUIRE(c.ok());
  return std::move(c->handle);
}

void write_ok(FileHandle& h, uint64_t off, std::string_view data) {
  auto n = h.write(off, data);
  REQUIRE(n.ok());
  REQUIRE(*n == data.size());
}

// Every operation through `prefix` (which leads outside) must fail and leave outside alone.
void expect_all_refused(Fixture& f, const std::string& prefix) {
  std::string before = f.outside_snapshot();
  CHECK_FALSE(f.provider->stat(prefix + "/secret").ok());
  CHECK_FALSE(f.provider->open(prefix + "/secret", O_RDONLY).ok());
  CHECK_FALSE(f.provider->open(prefix + "/secret", O_RDWR | O_TRUNC).ok());
  CHECK_FALSE(f.provider->list(prefix).ok());
  CHECK_FALSE(f.provider->create(prefix + "/new", O_RDWR, 0644, f.caller).ok());
  CHECK_FALSE(f.provider->mkdir(prefix + "/newdir", 0755, f.caller).ok());
  CHECK_FALSE(f.provider->symlink("x", prefix + "/newlink", f.caller).ok());
  CHECK_FALSE(f.provider->readlink(prefix + "/secret").ok());
  CHECK_FALSE(f.provider->unlink(prefix + "/victim").ok());
  CHECK_FALSE(f.provider->rmdir(prefix).ok());
  CHECK_FALSE(f.provider->rename(prefix + "/victim", "stolen", 0).ok());
  CHECK_FALSE(f.provider->link(prefix + "/secret", "hardlink").ok());
  AttrChange chmod;
  chmod.mode = 0777;
  CHECK_FALSE(f.provider->change(prefix + "/secret", chmod).ok());
  AttrChange truncate;
  truncate.size = 0;
  CHECK_FALSE(f.provider->change(prefix + "/secret", truncate).ok());
  CHECK(f.outside_snapshot() == before);
  CHECK_FALSE(host_exists(f.root + "/stolen"));
  CHECK_FALSE(host_exists(f.root + "/hardlink"));
}

}  // namespace

TEST_CASE("host_dir_provider_refuses_dotdot_components", "[vfs][host_dir]") {
  Fixture f;
  expect_all_refused(f, "../outside");
  expect_all_refused(f, "sub/../../outside");
  CHECK_FALSE(f.provider->stat("..").ok());
  CHECK_FALSE(f.provider->stat("sub/..").ok());
  CHECK_FALSE(f.provider->readlink("..").ok());
  AttrChange chmod;
  chmod.mode = 0700;
  CHECK_FALSE(f.provider->change("..", chmod).ok());
  CHECK_FALSE(f.provider->rename("..", "x", 0).ok());
  CHECK_FALSE(f.provider->rmdir("..").ok());
  CHECK_FALSE(f.provider->create("../planted", O_RDWR, 0644, f.caller).ok());
  CHECK_FALSE(host_exists(f.base / "planted"));
}

TEST_CASE("host_dir_provider_refuses_absolute_symlink_out", "[vfs][host_dir]") {
  Fixture f;
  REQUIRE(::symlink(f.outside.c_str(), (f.root + "/abs").c_str()) == 0);
  REQUIRE(::symlink("/etc", (f.root + "/etc").c_str()) == 0);
  expect_all_refused(f, "abs");
  CHECK_FALSE(f.provider->open("etc/passwd", O_RDONLY).ok());
  CHECK_FALSE(f.provider->stat("etc/passwd").ok());
  CHECK_FALSE(f.provider->list("etc").ok());
}

TEST_CASE("host_dir_provider_refuses_relative_symlink_out", "[vfs][host_dir]") {
  Fixture f;
  REQUIRE(::mkdir((f.root + "/a").c_str(), 0755) == 0);
  REQUIRE(::symlink("../../outside", (f.root + "/a/rel").c_str()) == 0);
  REQUIRE(::symlink("../outside", (f.root + "/rel").c_str()) == 0);
  expect_all_refused(f, "a/rel");
  expect_all_refused(f, "rel");
}

TEST_CASE("host_dir_provider_never_follows_a_last_component_symlink", "[vfs][host_dir]") {
  Fixture f;
  std::string before = f.outside_snapshot();
  REQUIRE(::symlink((f.outside + "/secret").c_str(), (f.root + "/link").c_str()) == 0);
  auto open = f.provider->open("link", O_RDONLY);
  REQUIRE_FALSE(open.ok());
  CHECK(open.error() == ELOOP);
  CHECK(f.provider->open("link", O_WRONLY | O_TRUNC).error() == ELOOP);
  CHECK(f.provider->create("link", O_RDWR, 0644, f.caller).error() == ELOOP);
  AttrChange chmod;
  chmod.mode = 0600;
  CHECK(f.provider->change("link", chmod).error() == EOPNOTSUPP);
  AttrChange truncate;
  truncate.size = 0;
  CHECK(f.provider->change("link", truncate).error() == ELOOP);
  AttrChange times;
  times.mtime = timespec{1000, 0};
  auto touched = f.provider->change("link", times);  // the link's own times
  REQUIRE(touched.ok());
  CHECK(S_ISLNK(touched->mode));
  CHECK(touched->mtime.tv_sec == 1000);
  auto lstat = f.provider->stat("link");
  REQUIRE(lstat.ok());
  CHECK(S_ISLNK(lstat->mode));
  auto target = f.provider->readlink("link");
  REQUIRE(target.ok());
  CHECK(*target == f.outside + "/secret");
  REQUIRE(f.provider->unlink("link").ok());  // removes the link, not its target
  CHECK(f.outside_snapshot() == before);
}

// One thread keeps swapping root/sub (a real directory) with a symlink to outside/, and
// root/last (a regular file) with a symlink to outside/secret, while the test thread works
// through sub/ and on last. Each openat2 resolution is atomic and last components are never
// followed: whichever state an operation sees, it never lands outside. The outside snapshot
// includes the directory's own mtime, so even a file created and deleted there again shows.
TEST_CASE("host_dir_provider_survives_directory_symlink_swap_race", "[vfs][host_dir][race]") {
  Fixture f;
  std::string sub = f.root + "/sub", swap = f.root + "/swap";
  REQUIRE(::mkdir(sub.c_str(), 0755) == 0);
  write_host(sub + "/secret", "inside", 0644);
  REQUIRE(::symlink(f.outside.c_str(), swap.c_str()) == 0);

  std::string last = f.root + "/last", last_swap = f.root + "/last_swap";
  write_host(last, "last", 0644);
  REQUIRE(::symlink((f.outside + "/secret").c_str(), last_swap.c_str()) == 0);
  std::string before = f.outside_snapshot();

  std::atomic<bool> stop{false};
  std::atomic<long> swaps{0};
  std::thread swapper([&] {
    while (!stop.load()) {
      if (::syscall(SYS_renameat2, AT_FDCWD, sub.c_str(), AT_FDCWD, swap.c_str(),
                    RENAME_EXCHANGE) == 0) {
        ++swaps;
      }
      (void)::syscall(SYS_renameat2, AT_FDCWD, last.c_str(), AT_FDCWD, last_swap.c_str(),
                      RENAME_EXCHANGE);
    }
  });
  int reads_inside = 0, refused = 0, creates = 0;
  bool read_outside = false;
  // At least 3000 rounds, and on until both states were seen (a loaded host may starve one).
  for (int i = 0; i < 50000 && (i < 3000 || reads_inside == 0 || refused == 0); ++i) {
    auto h = f.provider->open("sub/secret", O_RDONLY);
    if (h.ok()) {
      std::string content = read_all(**h);
      if (content == "OUTSIDE") read_outside = true;
      if (content == "inside") ++reads_inside;
    } else {
      ++refused;
    }
    auto c = f.provider->create("sub/new", O_RDWR | O_EXCL, 0644, f.caller);
    if (c.ok()) ++creates;
    (void)f.provider->unlink("sub/new");
    (void)f.provider->unlink("sub/victim");
    (void)f.provider->mkdir("sub/dir", 0755, f.caller);
    (void)f.provider->rmdir("sub/dir");
    AttrChange chmod;
    chmod.mode = 0600;
    (void)f.provider->change("sub/secret", chmod);
    (void)f.provider->rename("sub/secret", "sub/secret", 0);
    auto l = f.provider->open("last", O_RDWR | O_TRUNC);
    if (l.ok()) {
      (void)(*l)->write(0, "last");
      if (read_all(**l) == "OUTSIDE") read_outside = true;
    }
    AttrChange last_change;
    last_change.mode = 0600;
    last_change.size = 0;
    (void)f.provider->change("last", last_change);
  }
  stop = true;
  swapper.join();
  // Put sub back in place if the last swap left the symlink there.
  struct stat st {};
  REQUIRE(::lstat(sub.c_str(), &st) == 0);
  if (S_ISLNK(st.st_mode)) {
    REQUIRE(::syscall(SYS_renameat2, AT_FDCWD, sub.c_str(), AT_FDCWD, swap.c_str(),
                      RENAME_EXCHANGE) == 0);
  }
  INFO("swaps=" << swaps << " reads_inside=" << reads_inside << " refused=" << refused
                << " creates=" << creates);
  CHECK_FALSE(read_outside);
  CHECK(swaps > 0);
  CHECK(reads_inside > 0);  // the race was really run both ways
  CHECK(refused > 0);
  CHECK(f.outside_snapshot() == before);
  CHECK(read_host(sub + "/secret") == "inside");
}

TEST_CASE("host_dir_provider_reads_and_writes_at_offsets", "[vfs][host_dir]") {
  Fixture f;
  auto h = create_ok(*f.provider, "file.txt", 0640);
  write_ok(*h, 0, "hello world");
  write_ok(*h, 6, "WORLD");
  write_ok(*h, 20, "tail");  // leaves a hole of zeros
  std::string buf(5, '\0');
  auto n = h->read(6, buf);
  REQUIRE(n.ok());
  CHECK(buf.substr(0, *n) == "WORLD");
  CHECK(read_host(f.root + "/file.txt") ==
        std::string("hello WORLD") + std::string(9, '\0') + "tail");
  auto past_end = h->read(100, buf);
  REQUIRE(past_end.ok());
  CHECK(*past_end == 0);
  auto attr = f.provider->stat("file.txt");
  REQUIRE(attr.ok());
  CHECK(S_ISREG(attr->mode));
  CHECK((attr->mode & 07777) == 0640);  // exact, whatever the process umask
  CHECK(attr->size == 24);
  REQUIRE(h->sync(true).ok());
  REQUIRE(h->sync(false).ok());

  AttrChange truncate;
  truncate.size = 5;
  auto t = f.provider->change("file.txt", truncate);
  REQUIRE(t.ok());
  CHECK(t->size == 5);
  CHECK(read_host(f.root + "/file.txt") == "hello");
  truncate.size = 2;
  REQUIRE(h->change(truncate).ok());
  CHECK(read_host(f.root + "/file.txt") == "he");

  auto again = f.provider->open("file.txt", O_WRONLY | O_TRUNC);
  REQUIRE(again.ok());
  CHECK(read_host(f.root + "/file.txt").empty());
  CHECK(f.provider->create("file.txt", O_RDWR | O_EXCL, 0644, f.caller).error() == EEXIST);
  CHECK(f.provider->create("file.txt", O_RDWR, 0644, f.caller).ok());
}

TEST_CASE("host_dir_provider_directories_links_and_renames", "[vfs][host_dir]") {
  Fixture f;
  auto d = f.provider->mkdir("d", 0750, f.caller);
  REQUIRE(d.ok());
  CHECK(S_ISDIR(d->mode));
  CHECK((d->mode & 07777) == 0750);
  CHECK(f.provider->mkdir("d", 0750, f.caller).error() == EEXIST);
  write_ok(*create_ok(*f.provider, "d/a"), 0, "A");
  write_ok(*create_ok(*f.provider, "d/b"), 0, "B");
  auto entries = f.provider->list("d");
  REQUIRE(entries.ok());
  CHECK(names_of(*entries) == std::vector<std::string>{"a", "b"});
  CHECK(f.provider->list("d/a").error() == ENOTDIR);

  REQUIRE(f.provider->rename("d/a", "d/b", 0).ok());  // over an existing file
  CHECK(read_host(f.root + "/d/b") == "A");
  CHECK_FALSE(host_exists(f.root + "/d/a"));
  write_ok(*create_ok(*f.provider, "d/c"), 0, "C");
  CHECK(f.provider->rename("d/c", "d/b", RENAME_NOREPLACE).error() == EEXIST);
  REQUIRE(f.provider->rename("d/c", "d/b", RENAME_EXCHANGE).ok());
  CHECK(read_host(f.root + "/d/b") == "C");
  CHECK(read_host(f.root + "/d/c") == "A");
  REQUIRE(f.provider->rename("d", "e", 0).ok());  // a directory
  CHECK(read_host(f.root + "/e/b") == "C");
  CHECK(f.provider->rmdir("e").error() == ENOTEMPTY);

  auto s = f.provider->symlink("b", "e/s", f.caller);
  REQUIRE(s.ok());
  CHECK(S_ISLNK(s->mode));
  CHECK(*f.provider->readlink("e/s") == "b");
  CHECK(f.provider->readlink("e/b").error() == EINVAL);
  auto l = f.provider->link("e/b", "e/hard");
  REQUIRE(l.ok());
  CHECK(l->nlink == 2);
  CHECK(l->ino == f.provider->stat("e/b")->ino);

  CHECK(f.provider->unlink("e").error() == EISDIR);
  for (auto name : {"e/b", "e/c", "e/s", "e/hard"}) REQUIRE(f.provider->unlink(name).ok());
  REQUIRE(f.provider->rmdir("e").ok());
  CHECK(f.provider->stat("e").error() == ENOENT);
  CHECK(f.provider->unlink("").error() == EBUSY);
  CHECK(f.provider->rmdir("").error() == EBUSY);
  auto root = f.provider->stat("");
  REQUIRE(root.ok());
  CHECK(S_ISDIR(root->mode));
  CHECK(f.provider->statfs().ok());
}

TEST_CASE("host_dir_provider_chmod_chown_and_times", "[vfs][host_dir]") {
  Fixture f;
  create_ok(*f.provider, "f", 0644);
  AttrChange c;
  c.mode = 04711;
  c.atime = timespec{100, 5};
  c.mtime = timespec{200, 7};
  auto a = f.provider->change("f", c);
  REQUIRE(a.ok());
  CHECK((a->mode & 07777) == 04711);
  CHECK(a->atime.tv_sec == 100);
  CHECK(a->mtime.tv_sec == 200);
  CHECK(a->mtime.tv_nsec == 7);
  AttrChange dir_mode;
  dir_mode.mode = 0700;
  REQUIRE(f.provider->change("", dir_mode).ok());
  struct stat st {};
  REQUIRE(::stat(f.root.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  AttrChange now;
  now.mtime = timespec{0, UTIME_NOW};
  CHECK(f.provider->change("f", now)->mtime.tv_sec > 200);
}

TEST_CASE("host_dir_provider_maps_ids_and_chowns_new_nodes_as_root", "[vfs][host_dir]") {
  if (::geteuid() != 0) return;  // chown to another user needs root
  TempDir dir;
  IdMap ids{0, 0, 1000, 1000};  // host root appears as guest 1000
  auto p = HostDirProvider::serve(dir.path(), ids, true);
  REQUIRE(p.ok());
  auto root = (*p)->stat("");
  REQUIRE(root.ok());
  CHECK(root->uid == 1000);
  auto made = (*p)->create("mine", O_RDWR, 0600, Caller{1000, 1000, 1});
  REQUIRE(made.ok());
  CHECK(made->attr.uid == 1000);
  struct stat st {};
  REQUIRE(::stat((dir / "mine").c_str(), &st) == 0);
  CHECK(st.st_uid == 0);  // guest 1000 is the host owner
  auto other = (*p)->mkdir("theirs", 0755, Caller{1234, 1234, 1});
  REQUIRE(other.ok());
  REQUIRE(::stat((dir / "theirs").c_str(), &st) == 0);
  CHECK(st.st_uid == 1234);
  CHECK(other->uid == 1234);
  AttrChange chown;
  chown.uid = 0;  // guest root is host 1000 in this swap
  REQUIRE((*p)->change("theirs", chown).ok());
  REQUIRE(::stat((dir / "theirs").c_str(), &st) == 0);
  CHECK(st.st_uid == 1000);
}

TEST_CASE("host_dir_provider_handle_survives_unlink_and_rename", "[vfs][host_dir]") {
  Fixture f;
  auto h = create_ok(*f.provider, "f");
  write_ok(*h, 0, "before");
  REQUIRE(f.provider->rename("f", "g", 0).ok());
  write_ok(*h, 6, "+renamed");
  REQUIRE(f.provider->unlink("g").ok());
  write_ok(*h, 14, "+unlinked");
  CHECK(read_all(*h) == "before+renamed+unlinked");
  auto st = h->stat();
  REQUIRE(st.ok());
  CHECK(st->nlink == 0);
  AttrChange truncate;
  truncate.size = 6;
  REQUIRE(h->change(truncate).ok());
  CHECK(read_all(*h) == "before");
}

TEST_CASE("host_dir_provider_refuses_non_regular_files", "[vfs][host_dir]") {
  Fixture f;
  REQUIRE(::mkfifo((f.root + "/fifo").c_str(), 0644) == 0);
  REQUIRE(::mkdir((f.root + "/dir").c_str(), 0755) == 0);
  CHECK(f.provider->open("fifo", O_RDONLY).error() == EACCES);  // and did not block
  CHECK(f.provider->open("fifo", O_WRONLY).error() == EACCES);
  CHECK(f.provider->open("dir", O_RDONLY).error() == EISDIR);
  CHECK(f.provider->open("missing", O_RDONLY).error() == ENOENT);
  CHECK(f.provider->open("dir/x/y", O_RDONLY).error() == ENOENT);
}

TEST_CASE("host_dir_provider_large_file_in_chunks", "[vfs][host_dir][large]") {
  Fixture f;
  auto h = create_ok(*f.provider, "big");
  constexpr size_t kChunk = 1 << 20;
  constexpr int kChunks = 64;
  std::string chunk(kChunk, '\0');
  for (int i = 0; i < kChunks; ++i) {
    std::fill(chunk.begin(), chunk.end(), static_cast<char>('a' + i % 26));
    write_ok(*h, static_cast<uint64_t>(i) * kChunk, chunk);
  }
  auto attr = f.provider->stat("big");
  REQUIRE(attr.ok());
  CHECK(attr->size == kChunk * kChunks);
  auto reader = open_ok(*f.provider, "big", O_RDONLY);
  std::string buf(4096, '\0');
  for (int i : {0, 1, 25, 26, 63}) {
    auto n = reader->read(static_cast<uint64_t>(i) * kChunk + kChunk - 10, buf);
    REQUIRE(n.ok());
    REQUIRE(*n == (i == 63 ? 10u : 4096u));
    CHECK(buf[0] == static_cast<char>('a' + i % 26));
    if (i != 63) CHECK(buf[10] == static_cast<char>('a' + (i + 1) % 26));
  }
}

TEST_CASE("host_dir_provider_single_file_root", "[vfs][host_dir]") {
  TempDir dir;
  write_host(dir / "only.txt", "content", 0600);
  write_host(dir / "sibling", "not served", 0644);
  auto p = HostDirProvider::serve(dir / "only.txt", IdMap{}, false);
  REQUIRE(p.ok());
  CHECK((*p)->serves_single_file());
  auto attr = (*p)->stat("");
  REQUIRE(attr.ok());
  CHECK(S_ISREG(attr->mode));
  CHECK(attr->size == 7);
  auto h = (*p)->open("", O_RDWR);
  REQUIRE(h.ok());
  CHECK(read_all(**h) == "content");
  write_ok(**h, 0, "CON");
  CHECK(read_host(dir / "only.txt") == "CONtent");
  CHECK((*p)->stat("sibling").error() == ENOTDIR);
  CHECK((*p)->open("../sibling", O_RDONLY).error() == ENOTDIR);
  CHECK((*p)->list("").error() == ENOTDIR);
  CHECK((*p)->create("x", O_RDWR, 0644, Caller{}).error() == ENOTDIR);
  CHECK((*p)->unlink("").error() == EBUSY);
  CHECK((*p)->rename("", "x", 0).error() == EBUSY);
  CHECK(host_exists(dir / "only.txt"));
  CHECK(read_host(dir / "sibling") == "not served");
}

TEST_CASE("host_file_handle_moves_scattered_buffers_past_iov_max", "[vfs][host_dir]") {
  Fixture f;
  auto h = create_ok(*f.provider, "scattered");
  // More buffers than one pwritev/preadv takes: the handle goes on in batches.
  std::string data(3000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  std::vector<iovec> out;
  for (size_t i = 0; i < data.size(); ++i) out.push_back(iovec{data.data() + i, 1});
  auto wrote = h->write_from(5, out);
  REQUIRE(wrote.ok());
  CHECK(*wrote == data.size());
  CHECK(read_host(f.root + "/scattered") == std::string(5, '\0') + data);

  std::string back(4000, '#');
  std::vector<iovec> in;
  for (size_t i = 0; i < back.size(); i += 2) in.push_back(iovec{back.data() + i, 2});
  auto got = h->read_into(5, in);  // ends at end of file, mid-batch of buffers
  REQUIRE(got.ok());
  CHECK(*got == data.size());
  CHECK(back.substr(0, data.size()) == data);
  CHECK(back.substr(data.size()) == std::string(back.size() - data.size(), '#'));
  auto past = h->read_into(1 << 20, in);
  REQUIRE(past.ok());
  CHECK(*past == 0);
}
