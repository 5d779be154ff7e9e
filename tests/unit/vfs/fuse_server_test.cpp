#include <catch2/catch.hpp>

#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>

#include "vfs/fuse_test_client.h"
#include "vfs/host_dir_provider.h"
#include "vfs_test_support.h"

using namespace matchlock::vfs;
using namespace matchlock::vfs::test;

namespace {

constexpr uint64_t kRoot = FUSE_ROOT_ID;

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("fuse_server_negotiates_init_and_refuses_other_majors", "[vfs][fuse_server]") {
  FuseTestClient c;
  CHECK(c.lookup(kRoot, "x").error == EIO);  // nothing before INIT
  CHECK(c.init(8).error == EPROTO);
  Reply r = c.init();
  REQUIRE(r.error == 0);
  auto out = r.as<fuse_init_out>();
  CHECK(out.major == 7);
  CHECK(out.max_write == 512 * 1024);  // writes 512 KiB at a time, reads 1 MiB
  CHECK(out.max_pages == 256);
  CHECK((out.flags & FUSE_ATOMIC_O_TRUNC));
  CHECK((out.flags & FUSE_MAX_PAGES));
  CHECK_FALSE((out.flags & FUSE_POSIX_LOCKS));  // offered, not wanted
  CHECK_FALSE((out.flags & FUSE_DO_READDIRPLUS));
  CHECK(c.call(FUSE_ACCESS, kRoot, bytes_of(fuse_access_in{})).error == ENOSYS);
  CHECK(c.call(FUSE_GETXATTR, kRoot, std::string(8, '\0') + cstr("user.x")).error == ENOSYS);
  CHECK(c.call(9999, kRoot, "").error == ENOSYS);
  size_t before = c.sent.size();
  c.send(FUSE_INTERRUPT, 0, bytes_of(fuse_interrupt_in{}));
  c.send(FUSE_FORGET, kRoot, bytes_of(fuse_forget_in{1}));
  CHECK(c.sent.size() == before);  // neither gets a reply
}

TEST_CASE("fuse_server_creates_writes_reads_at_offsets_and_truncates", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  auto f = c.create(kRoot, "a.txt");
  REQUIRE(f.error == 0);
  CHECK(c.write(f.node, f.fh, 0, "hello world").as<fuse_write_out>().size == 11);
  CHECK(c.write(f.node, f.fh, 6, "WORLD").error == 0);
  CHECK(c.read(f.node, f.fh, 6, 100).body == "WORLD");
  CHECK(c.read(f.node, f.fh, 0, 5).body == "hello");
  CHECK(c.read(f.node, f.fh, 50, 5).body.empty());
  CHECK(c.read(f.node, f.fh, 0, 0xffffffff).body.size() == 11);  // the size is capped, not trusted

  fuse_setattr_in sa{};
  sa.valid = FATTR_SIZE;
  sa.size = 3;
  Reply t = c.call(FUSE_SETATTR, f.node, bytes_of(sa));
  REQUIRE(t.error == 0);
  CHECK(t.as<fuse_attr_out>().attr.size == 3);
  auto a = c.getattr(f.node).as<fuse_attr_out>().attr;
  CHECK(a.size == 3);
  CHECK(a.uid == 1000);
  CHECK(S_ISREG(a.mode));
  CHECK(c.release(f.node, f.fh).error == 0);
  CHECK(c.release(f.node, f.fh).error == EBADF);
  CHECK(c.read(f.node, f.fh, 0, 1).error == EBADF);

  auto o = c.open(f.node, O_WRONLY | O_TRUNC);
  REQUIRE(o.error == 0);
  CHECK(c.getattr(f.node).as<fuse_attr_out>().attr.size == 0);
  fuse_statfs_out st = c.call(FUSE_STATFS, kRoot, "").as<fuse_statfs_out>();
  CHECK(st.st.bsize == 4096);
  CHECK(st.st.namelen == 255);
}

TEST_CASE("fuse_server_reads_and_writes_file_data_in_place", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  auto f = c.create(kRoot, "a.txt");
  REQUIRE(f.error == 0);
  CHECK(c.write_in_place(f.node, f.fh, 0, "hello world").as<fuse_write_out>().size == 11);
  CHECK(c.read(f.node, f.fh, 0, 100).body == "hello world");
  CHECK(c.write_in_place(f.node, f.fh, 6, "WORLD").error == 0);
  auto r = c.read_in_place(f.node, f.fh, 6, 100);
  CHECK(r.placed_bytes == 5);
  CHECK(r.reply.body == "WORLD");
  r = c.read_in_place(f.node, f.fh, 0, 100, 4);  // a room smaller than asked: it is the bound
  CHECK(r.placed_bytes == 4);
  CHECK(r.reply.body == "hell");
  r = c.read_in_place(f.node, f.fh, 50, 100);  // past the end
  CHECK(r.reply.error == 0);
  CHECK(r.placed_bytes == 0);
  CHECK(r.reply.body.empty());
  r = c.read_in_place(f.node, f.fh + 7, 0, 10);
  CHECK(r.reply.error == EBADF);
  CHECK(r.placed_bytes == 0);

  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  CHECK(c.write_in_place(f.node, f.fh, 0, big).as<fuse_write_out>().size == big.size());
  r = c.read_in_place(f.node, f.fh, 0, 1 << 20);
  CHECK(r.placed_bytes == big.size());
  CHECK(r.reply.body == big);

  // A WRITE whose header counts more (or fewer) bytes than are in place is refused.
  std::string message = fuse_request(FUSE_WRITE, f.node, c.write_body(f.fh, 0, "xyz"), 99);
  message.resize(sizeof(fuse_in_header) + sizeof(fuse_write_in));
  std::string two = "xy";
  InPlaceData short_payload;
  short_payload.write_payload = {iovec{two.data(), two.size()}};
  c.server.handle(message, short_payload);
  CHECK(parse_reply(c.sent.back()).error == EINVAL);
  CHECK(c.read(f.node, f.fh, 0, 3).body == big.substr(0, 3));
}

TEST_CASE("fuse_server_writes_new_or_truncated_files_with_direct_io_only", "[vfs][fuse_server]") {
  vfs_test::TempDir dir;
  auto host = HostDirProvider::serve(dir.path(), IdMap{}, false);
  REQUIRE(host.ok());
  FuseTestClient c(*MountTable::create({{"", std::move(host.value()), false}}));
  c.init();
  // Write-only and starting empty: no page cache, so the data crosses once.
  auto made = c.create(kRoot, "new", O_WRONLY | O_CREAT);
  REQUIRE(made.error == 0);
  CHECK((made.open_flags & FOPEN_DIRECT_IO));
  CHECK((c.open(made.node, O_WRONLY | O_TRUNC).open_flags & FOPEN_DIRECT_IO));
  // Anything that can read or mmap the file, or keeps bytes the guest may have cached: cached.
  CHECK_FALSE((c.create(kRoot, "rw", O_RDWR | O_CREAT).open_flags & FOPEN_DIRECT_IO));
  CHECK_FALSE((c.open(made.node, O_WRONLY).open_flags & FOPEN_DIRECT_IO));
  CHECK_FALSE((c.open(made.node, O_WRONLY | O_APPEND).open_flags & FOPEN_DIRECT_IO));
  CHECK_FALSE((c.open(made.node, O_RDWR | O_TRUNC).open_flags & FOPEN_DIRECT_IO));
  CHECK_FALSE((c.open(made.node, O_RDONLY).open_flags & FOPEN_DIRECT_IO));

  REQUIRE(c.write_in_place(made.node, made.fh, 0, "one").error == 0);
  REQUIRE(c.write_in_place(made.node, made.fh, 3, "two").error == 0);
  CHECK(vfs_test::read_host(dir / "new") == "onetwo");
}

namespace {

// A file system whose clock did not tick between writes (a host file system's timestamps come
// from a coarse clock): a write leaves the file's mtime as it was.
class CoarseClockFile final : public FileHandle {
 public:
  explicit CoarseClockFile(std::unique_ptr<FileHandle> inner) : inner_(std::move(inner)) {}
  Outcome<size_t> read(uint64_t offset, std::span<char> out) override {
    return inner_->read(offset, out);
  }
  Outcome<size_t> write(uint64_t offset, std::string_view data) override {
    auto before = inner_->stat();
    auto n = inner_->write(offset, data);
    AttrChange keep;
    if (before) keep.mtime = before->mtime;
    (void)inner_->change(keep);
    return n;
  }
  Outcome<Attr> stat() override { return inner_->stat(); }
  Outcome<Attr> change(const AttrChange& c) override { return inner_->change(c); }
  Status sync(bool data_only) override { return inner_->sync(data_only); }

 private:
  std::unique_ptr<FileHandle> inner_;
};

class CoarseClockProvider final : public Provider {
 public:
  Outcome<Attr> stat(const std::string& p) override { return inner_.stat(p); }
  Outcome<std::vector<DirEntry>> list(const std::string& p) override { return inner_.list(p); }
  Outcome<std::unique_ptr<FileHandle>> open(const std::string& p, int flags) override {
    auto h = inner_.open(p, flags);
    if (!h) return h;
    return std::unique_ptr<FileHandle>(std::make_unique<CoarseClockFile>(std::move(*h)));
  }
  Outcome<Created> create(const std::string& p, int flags, uint32_t mode,
                          const Caller& caller) override {
    auto cr = inner_.create(p, flags, mode, caller);
    if (cr) cr->handle = std::make_unique<CoarseClockFile>(std::move(cr->handle));
    return cr;
  }
  Outcome<Attr> mkdir(const std::string& p, uint32_t mode, const Caller& caller) override {
    return inner_.mkdir(p, mode, caller);
  }
  Outcome<Attr> symlink(const std::string& t, const std::string& p, const Caller& c) override {
    return inner_.symlink(t, p, c);
  }
  Outcome<std::string> readlink(const std::string& p) override { return inner_.readlink(p); }
  Outcome<Attr> link(const std::string& e, const std::string& p) override {
    return inner_.link(e, p);
  }
  Status unlink(const std::string& p) override { return inner_.unlink(p); }
  Status rmdir(const std::string& p) override { return inner_.rmdir(p); }
  Status rename(const std::string& f, const std::string& t, unsigned flags) override {
    return inner_.rename(f, t, flags);
  }
  Outcome<Attr> change(const std::string& p, const AttrChange& c) override {
    return inner_.change(p, c);
  }
  Outcome<FsStats> statfs() override { return inner_.statfs(); }
  bool read_only() const override { return false; }

 private:
  MemoryProvider inner_;
};

}  // namespace

TEST_CASE("fuse_server_direct_writes_move_the_mtime_the_clock_did_not", "[vfs][fuse_server]") {
  // What makes another opener's kernel drop its cached pages of the file (their mtime differs).
  FuseTestClient c(*MountTable::create({{"", std::make_shared<CoarseClockProvider>(), false}}));
  c.init();
  auto mtime_ns = [&](uint64_t node) {
    auto a = c.getattr(node).as<fuse_attr_out>().attr;
    return a.mtime * 1000000000ull + a.mtimensec;
  };
  auto direct = c.create(kRoot, "direct", O_WRONLY | O_CREAT);
  REQUIRE((direct.open_flags & FOPEN_DIRECT_IO));
  REQUIRE(c.write_in_place(direct.node, direct.fh, 0, "one").error == 0);
  uint64_t first = mtime_ns(direct.node);
  REQUIRE(c.write_in_place(direct.node, direct.fh, 3, "two").error == 0);
  CHECK(mtime_ns(direct.node) > first);
  // Through the page cache the guest kernel itself keeps openers coherent: nothing is moved.
  auto cached = c.create(kRoot, "cached", O_RDWR | O_CREAT);
  REQUIRE_FALSE((cached.open_flags & FOPEN_DIRECT_IO));
  REQUIRE(c.write(cached.node, cached.fh, 0, "one").error == 0);
  first = mtime_ns(cached.node);
  REQUIRE(c.write(cached.node, cached.fh, 3, "two").error == 0);
  CHECK(mtime_ns(cached.node) == first);
}

TEST_CASE("fuse_server_git_lock_file_dance_renames_over_the_index", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  auto idx = c.create(kRoot, "index");
  c.write(idx.node, idx.fh, 0, "old index");
  c.release(idx.node, idx.fh);
  auto lock = c.create(kRoot, "index.lock", O_RDWR | O_CREAT | O_EXCL);
  REQUIRE(lock.error == 0);
  CHECK(c.create(kRoot, "index.lock", O_RDWR | O_CREAT | O_EXCL).error == EEXIST);
  c.write(lock.node, lock.fh, 0, "new index");
  c.release(lock.node, lock.fh);
  REQUIRE(c.rename(kRoot, "index.lock", kRoot, "index").error == 0);
  CHECK(c.lookup(kRoot, "index.lock").error == ENOENT);
  uint64_t now = c.node_of(kRoot, "index");
  CHECK(now == lock.node);  // the lock file's node moved onto the name
  auto o = c.open(now, O_RDONLY);
  CHECK(c.read(now, o.fh, 0, 100).body == "new index");
  CHECK(c.getattr(idx.node).error == ENOENT);  // the old index was renamed over
}

TEST_CASE("fuse_server_renamed_directory_keeps_its_nodes_working", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  REQUIRE(c.mkdir(kRoot, "src").error == 0);
  uint64_t src = c.node_of(kRoot, "src");
  auto f = c.create(src, "main.c");
  c.write(f.node, f.fh, 0, "int main;");
  c.release(f.node, f.fh);
  REQUIRE(c.rename(kRoot, "src", kRoot, "lib").error == 0);
  auto o = c.open(f.node, O_RDONLY);  // the old node id, now at lib/main.c
  REQUIRE(o.error == 0);
  CHECK(c.read(f.node, o.fh, 0, 100).body == "int main;");
  CHECK(c.lookup(src, "main.c").error == 0);
  CHECK(c.lookup(kRoot, "src").error == ENOENT);
}

TEST_CASE("fuse_server_unlinked_open_file_still_reads_writes_and_stats", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  auto f = c.create(kRoot, "tmp");
  c.write(f.node, f.fh, 0, "scratch");
  REQUIRE(c.call(FUSE_UNLINK, kRoot, cstr("tmp")).error == 0);
  CHECK(c.lookup(kRoot, "tmp").error == ENOENT);
  CHECK(c.write(f.node, f.fh, 7, "!").error == 0);
  CHECK(c.read(f.node, f.fh, 0, 100).body == "scratch!");
  Reply a = c.getattr(f.node);  // no fh given: the server finds the open handle
  REQUIRE(a.error == 0);
  CHECK(a.as<fuse_attr_out>().attr.size == 8);
  CHECK(a.as<fuse_attr_out>().attr.nlink == 0);
  CHECK(c.release(f.node, f.fh).error == 0);
  CHECK(c.getattr(f.node).error == ENOENT);
}

TEST_CASE("fuse_server_readdir_resumes_at_offsets", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  for (int i = 0; i < 50; ++i) c.create(kRoot, "file-with-a-longish-name-" + std::to_string(i));
  auto small = c.list(kRoot, 128);  // a few entries per READDIR
  auto big = c.list(kRoot, 65536);
  CHECK(small.size() == 52);
  CHECK(small == big);
  CHECK(small[0] == ".");
  CHECK(small[1] == "..");
  CHECK(has(small, "file-with-a-longish-name-49"));
}

TEST_CASE("fuse_server_mkdir_rmdir_symlink_readlink_mknod_link", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  REQUIRE(c.mkdir(kRoot, "d").error == 0);
  CHECK(c.mkdir(kRoot, "d").error == EEXIST);
  uint64_t d = c.node_of(kRoot, "d");
  c.create(d, "f");
  CHECK(c.call(FUSE_RMDIR, kRoot, cstr("d")).error == ENOTEMPTY);
  CHECK(c.call(FUSE_UNLINK, d, cstr("f")).error == 0);
  CHECK(c.call(FUSE_RMDIR, kRoot, cstr("d")).error == 0);
  CHECK(c.getattr(d).error == ENOENT);

  Reply s = c.call(FUSE_SYMLINK, kRoot, cstr("ln") + cstr("../target"));
  REQUIRE(s.error == 0);
  uint64_t ln = s.as<fuse_entry_out>().nodeid;
  CHECK(S_ISLNK(s.as<fuse_entry_out>().attr.mode));
  CHECK(c.call(FUSE_READLINK, ln, "").body == "../target");
  CHECK(c.call(FUSE_SYMLINK, kRoot, cstr("ln2") + cstr(std::string(5000, 'x'))).error ==
        ENAMETOOLONG);

  fuse_mknod_in mk{};
  mk.mode = S_IFCHR | 0600;
  CHECK(c.call(FUSE_MKNOD, kRoot, bytes_of(mk) + cstr("dev")).error == EPERM);
  mk.mode = S_IFREG | 0600;
  CHECK(c.call(FUSE_MKNOD, kRoot, bytes_of(mk) + cstr("plain")).error == 0);
  fuse_link_in li{};
  li.oldnodeid = c.node_of(kRoot, "plain");
  Reply l = c.call(FUSE_LINK, kRoot, bytes_of(li) + cstr("plain2"));
  REQUIRE(l.error == 0);
  CHECK(l.as<fuse_entry_out>().attr.nlink == 2);
}

TEST_CASE("fuse_server_rejects_bad_names_nodes_and_handles", "[vfs][fuse_server]") {
  FuseTestClient c;
  c.init();
  CHECK(c.lookup(kRoot, "..").error == EINVAL);
  CHECK(c.lookup(kRoot, ".").error == EINVAL);
  CHECK(c.lookup(kRoot, "").error == EINVAL);
  CHECK(c.lookup(kRoot, "a/b").error == EINVAL);
  CHECK(c.lookup(kRoot, std::string(256, 'n')).error == ENAMETOOLONG);
  CHECK(c.call(FUSE_LOOKUP, kRoot, cstr("a") + "b").error == EINVAL);  // NUL inside
  CHECK(c.call(FUSE_LOOKUP, kRoot, "noterm").error == EINVAL);
  CHECK(c.create(kRoot, "../escape").error == EINVAL);
  CHECK(c.mkdir(kRoot, "x/y").error == EINVAL);
  CHECK(c.rename(kRoot, "..", kRoot, "z").error == EINVAL);
  CHECK(c.lookup(999999, "a").error == ENOENT);
  CHECK(c.getattr(0).error == ENOENT);
  CHECK(c.read(kRoot, 12345, 0, 10).error == EBADF);
  CHECK(c.write(kRoot, 12345, 0, "x").error == EBADF);
  CHECK(c.call(FUSE_GETATTR, kRoot, "").error == EINVAL);  // short body
  CHECK(c.call(FUSE_READ, kRoot, "abc").error == EINVAL);
  fuse_write_in w{};
  w.size = 100;  // lies about its data
  CHECK(c.call(FUSE_WRITE, kRoot, bytes_of(w) + "abc").error == EINVAL);
  CHECK(c.rename(kRoot, "a", kRoot, "b", RENAME_WHITEOUT).error == EINVAL);
}

TEST_CASE("fuse_server_survives_garbage_requests", "[vfs][fuse_server][fuzz]") {
  FuseTestClient c;
  c.init();
  auto f = c.create(kRoot, "keep");
  std::mt19937 rng(99);
  for (int i = 0; i < 20000; ++i) {
    std::string body(rng() % 96, '\0');
    for (char& ch : body) ch = static_cast<char>(rng() % 4 == 0 ? 0 : rng());
    uint32_t op = 1 + rng() % 52;
    if (op == FUSE_INIT || op == FUSE_DESTROY) continue;
    uint64_t node = rng() % 4 == 0 ? rng() : rng() % 4;
    c.server.handle(fuse_request(op, node, body, 1000000 + i));
  }
  CHECK(c.read(f.node, f.fh, 0, 10).error == 0);
}

TEST_CASE("fuse_server_bounds_open_handles", "[vfs][fuse_server]") {
  FuseServer::Limits limits;
  limits.max_handles = 4;
  FuseTestClient c(*MountTable::create({}), nullptr, limits);
  c.init();
  auto f = c.create(kRoot, "f");
  for (int i = 0; i < 3; ++i) CHECK(c.open(f.node).error == 0);
  CHECK(c.open(f.node).error == EMFILE);
  CHECK(c.create(kRoot, "g").error == EMFILE);
}

TEST_CASE("fuse_server_routes_nested_mounts_and_lists_mount_points", "[vfs][fuse_server]") {
  auto root = std::make_shared<MemoryProvider>();
  auto inner = std::make_shared<MemoryProvider>();
  FuseTestClient c(*MountTable::create({{"", root, false}, {"data/in", inner, false}}));
  c.init();
  CHECK(has(c.list(kRoot), "data"));
  uint64_t data = c.node_of(kRoot, "data");
  CHECK(S_ISDIR(c.getattr(data).as<fuse_attr_out>().attr.mode));
  CHECK(has(c.list(data), "in"));
  uint64_t in = c.node_of(data, "in");
  auto f = c.create(in, "x");
  REQUIRE(f.error == 0);
  CHECK(inner->stat("x"));
  CHECK_FALSE(root->stat("data/in/x"));
  c.create(kRoot, "top");
  CHECK(c.rename(kRoot, "top", in, "top").error == EXDEV);
  CHECK(c.call(FUSE_RMDIR, kRoot, cstr("data")).error == EBUSY);
  CHECK(c.call(FUSE_RMDIR, data, cstr("in")).error == EBUSY);
  CHECK(c.rename(kRoot, "data", kRoot, "moved").error == EBUSY);
  CHECK(c.mkdir(kRoot, "data").error == EEXIST);
}

namespace {

// Records every hook call; before() answers at once or later, as the test chooses.
struct FakeHooks : VfsHooks {
  bool wants_before(const FileOperation& op) const override {
    return std::find(watched.begin(), watched.end(), op.op) != watched.end();
  }
  void before(const FileOperation& op, std::string_view data,
              std::function<void(HookDecision)> done) override {
    befores.push_back(op);
    seen_data = std::string(data);
    if (defer) {
      pending.push_back(std::move(done));
      return;
    }
    done(decision);
  }
  void after(const FileOperation& op, int error) override { afters.emplace_back(op, error); }

  std::vector<FileOp> watched;
  HookDecision decision;
  bool defer = false;
  std::string seen_data;
  std::vector<FileOperation> befores;
  std::vector<std::function<void(HookDecision)>> pending;
  std::vector<std::pair<FileOperation, int>> afters;
};

}  // namespace

TEST_CASE("fuse_server_hook_refuses_with_an_errno", "[vfs][fuse_server][hooks]") {
  auto hooks = std::make_shared<FakeHooks>();
  hooks->watched = {FileOp::kCreate};
  hooks->decision.error = EACCES;
  FuseTestClient c(hooks);
  c.init();
  CHECK(c.create(kRoot, "secret").error == EACCES);
  CHECK(c.lookup(kRoot, "secret").error == ENOENT);
  REQUIRE(hooks->befores.size() == 1);
  CHECK(hooks->befores[0].path == "/workspace/secret");
  CHECK(hooks->befores[0].uid == 1000);
}

TEST_CASE("fuse_server_hook_replaces_written_data", "[vfs][fuse_server][hooks]") {
  auto hooks = std::make_shared<FakeHooks>();
  hooks->watched = {FileOp::kWrite};
  hooks->decision.replace = "REDACTED!!";
  FuseTestClient c(hooks);
  c.init();
  auto f = c.create(kRoot, "out");
  Reply w = c.write(f.node, f.fh, 0, "secret");
  CHECK(w.as<fuse_write_out>().size == 6);  // the guest's own length
  CHECK(hooks->seen_data == "secret");
  CHECK(c.read(f.node, f.fh, 0, 100).body == "REDACTED!!");
  // The same when the data is in place, as virtio-fs hands it over: the hook sees a copy.
  hooks->seen_data.clear();
  CHECK(c.write_in_place(f.node, f.fh, 0, "secret").as<fuse_write_out>().size == 6);
  CHECK(hooks->seen_data == "secret");
  CHECK(c.read_in_place(f.node, f.fh, 0, 100).reply.body == "REDACTED!!");
}

TEST_CASE("fuse_server_hooks_that_answer_later_get_in_place_data_copied",
          "[vfs][fuse_server][hooks]") {
  auto hooks = std::make_shared<FakeHooks>();
  hooks->watched = {FileOp::kWrite};
  FuseTestClient c(hooks);
  c.init();
  auto f = c.create(kRoot, "out");
  REQUIRE(c.write(f.node, f.fh, 0, "REDACTED!!").error == 0);
  // A hook that answers later: the guest's buffer may be reused by then, so what is written is
  // the copy taken when the request came.
  hooks->defer = true;
  std::string payload = "original";
  std::string message = fuse_request(FUSE_WRITE, f.node, c.write_body(f.fh, 0, payload), 500);
  message.resize(sizeof(fuse_in_header) + sizeof(fuse_write_in));
  InPlaceData in_place;
  in_place.write_payload = {iovec{payload.data(), payload.size()}};
  size_t before = c.sent.size();
  c.server.handle(message, in_place);
  CHECK(c.sent.size() == before);
  payload.assign(payload.size(), 'X');
  REQUIRE(hooks->pending.size() == 1);
  hooks->pending[0](HookDecision{});
  CHECK(parse_reply(c.sent.back()).as<fuse_write_out>().size == 8);
  hooks->defer = false;
  CHECK(c.read(f.node, f.fh, 0, 100).body == "original!!");

  // A read waiting on a hook answers with its data inline, not into a room gone by then.
  hooks->watched = {FileOp::kRead};
  hooks->defer = true;
  fuse_read_in in{};
  in.fh = f.fh;
  in.size = 100;
  std::string room(64, '\0');
  InPlaceData read_room;
  read_room.reply_room = {iovec{room.data(), room.size()}};
  c.server.handle(fuse_request(FUSE_READ, f.node, bytes_of(in), 501), read_room);
  REQUIRE(hooks->pending.size() == 2);
  hooks->pending[1](HookDecision{});
  CHECK(c.placed.back() == 0);
  CHECK(parse_reply(c.sent.back()).body == "original!!");
  CHECK(room == std::string(64, '\0'));
}

TEST_CASE("fuse_server_after_hook_sees_every_op", "[vfs][fuse_server][hooks]") {
  auto hooks = std::make_shared<FakeHooks>();
  FuseTestClient c(hooks);
  c.init();
  c.mkdir(kRoot, "d");
  uint64_t d = c.node_of(kRoot, "d");
  auto f = c.create(d, "f");
  c.write(f.node, f.fh, 0, "abc");
  c.read(f.node, f.fh, 0, 10);
  c.call(FUSE_FSYNC, f.node, bytes_of(fuse_fsync_in{f.fh, 0, 0}));
  c.release(f.node, f.fh);
  c.rename(d, "f", d, "g");
  c.list(d);
  c.call(FUSE_UNLINK, d, cstr("g"));
  c.lookup(d, "missing");
  std::vector<std::pair<FileOp, int>> ops;
  for (auto& [op, err] : hooks->afters) ops.emplace_back(op.op, err);
  std::vector<std::pair<FileOp, int>> want = {
      {FileOp::kMkdir, 0},   {FileOp::kStat, 0},    {FileOp::kCreate, 0}, {FileOp::kWrite, 0},
      {FileOp::kRead, 0},    {FileOp::kSync, 0},    {FileOp::kClose, 0},  {FileOp::kRename, 0},
      {FileOp::kReaddir, 0}, {FileOp::kReaddir, 0}, {FileOp::kRemove, 0}, {FileOp::kStat, ENOENT}};
  CHECK(ops == want);
  CHECK(hooks->afters[3].first.size == 3);  // bytes written
  CHECK(hooks->afters[4].first.size == 3);  // bytes read
  CHECK(hooks->afters[7].first.path == "/workspace/d/f");
  CHECK(hooks->afters[7].first.new_path == "/workspace/d/g");
}

TEST_CASE("fuse_server_async_hook_does_not_stall_other_requests", "[vfs][fuse_server][hooks]") {
  auto hooks = std::make_shared<FakeHooks>();
  hooks->watched = {FileOp::kWrite};
  hooks->defer = true;
  FuseTestClient c(hooks);
  c.init();
  auto f = c.create(kRoot, "slow");
  size_t before = c.sent.size();
  uint64_t w = c.send(FUSE_WRITE, f.node, c.write_body(f.fh, 0, "later"));
  CHECK(c.sent.size() == before);         // waiting on the hook
  Reply other = c.lookup(kRoot, "slow");  // answered meanwhile
  CHECK(other.error == 0);
  REQUIRE(hooks->pending.size() == 1);
  hooks->pending[0](HookDecision{});
  Reply late = parse_reply(c.sent.back());
  CHECK(late.unique == w);
  CHECK(late.as<fuse_write_out>().size == 5);
  CHECK(c.read(f.node, f.fh, 0, 10).body == "later");

  uint64_t refused = c.send(FUSE_WRITE, f.node, c.write_body(f.fh, 0, "no"));
  hooks->pending[1](HookDecision{EPERM, std::nullopt});
  Reply r = parse_reply(c.sent.back());
  CHECK(r.unique == refused);
  CHECK(r.error == EPERM);
  CHECK(hooks->afters.back().second == EPERM);

  // An answer arriving after the channel closed is ignored.
  c.send(FUSE_WRITE, f.node, c.write_body(f.fh, 0, "gone"));
  c.server.close_handles();
  size_t n = c.sent.size();
  hooks->pending[2](HookDecision{});
  CHECK(c.sent.size() == n);
}

TEST_CASE("fuse_server_bounds_requests_waiting_on_hooks", "[vfs][fuse_server][hooks]") {
  auto hooks = std::make_shared<FakeHooks>();
  hooks->watched = {FileOp::kStat};
  hooks->defer = true;
  FuseServer::Limits limits;
  limits.max_waiting = 2;
  FuseTestClient c(*MountTable::create({}), hooks, limits);
  c.init();
  c.send(FUSE_LOOKUP, kRoot, cstr("a"));
  c.send(FUSE_LOOKUP, kRoot, cstr("b"));
  CHECK(c.lookup(kRoot, "c").error == EAGAIN);
  CHECK(c.server.waiting_on_hooks() == 2);
  hooks->pending[0](HookDecision{});
  CHECK(c.server.waiting_on_hooks() == 1);
  CHECK(parse_reply(c.sent.back()).error == ENOENT);
}

namespace {

struct ReadOnlyMemory : MemoryProvider {
  bool read_only() const override { return true; }
};

}  // namespace

TEST_CASE("fuse_server_read_only_mounts_refuse_changes_with_erofs", "[vfs][fuse_server]") {
  auto ro = std::make_shared<ReadOnlyMemory>();
  auto made = ro->create("seed", O_WRONLY | O_CREAT, 0644, {});
  REQUIRE(made);
  REQUIRE(made->handle->write(0, "seed"));
  FuseTestClient c(*MountTable::create({{"ro", ro, false}}));
  c.init();
  uint64_t dir = c.node_of(kRoot, "ro");
  uint64_t seed = c.node_of(dir, "seed");
  CHECK(c.create(dir, "new").error == EROFS);
  CHECK(c.mkdir(dir, "sub").error == EROFS);
  CHECK(c.call(FUSE_UNLINK, dir, cstr("seed")).error == EROFS);
  CHECK(c.open(seed, O_WRONLY).error == EROFS);
  CHECK(c.open(seed, O_RDONLY | O_TRUNC).error == EROFS);
  auto o = c.open(seed, O_RDONLY);
  REQUIRE(o.error == 0);
  CHECK(c.read(seed, o.fh, 0, 10).body == "seed");
  fuse_setattr_in sa{};
  sa.valid = FATTR_MODE;
  sa.mode = 0777;
  CHECK(c.call(FUSE_SETATTR, seed, bytes_of(sa)).error == EROFS);
  sa.valid |= FATTR_FH;
  sa.fh = o.fh;
  CHECK(c.call(FUSE_SETATTR, seed, bytes_of(sa)).error == EROFS);
  CHECK(c.create(kRoot, "outside").error == 0);  // the memory root stays writable
}

TEST_CASE("fuse_server_setattr_asks_a_hook_per_change", "[vfs][fuse_server][hooks]") {
  auto hooks = std::make_shared<FakeHooks>();
  hooks->watched = {FileOp::kTruncate, FileOp::kChmod, FileOp::kChown, FileOp::kUtimens};
  FuseTestClient c(hooks);
  c.init();
  auto f = c.create(kRoot, "f");
  fuse_setattr_in sa{};
  sa.valid = FATTR_SIZE | FATTR_MODE | FATTR_MTIME | FATTR_MTIME_NOW;
  sa.size = 0;
  sa.mode = 0600;
  REQUIRE(c.call(FUSE_SETATTR, f.node, bytes_of(sa)).error == 0);
  REQUIRE(hooks->befores.size() == 3);
  CHECK(hooks->befores[0].op == FileOp::kTruncate);
  CHECK(hooks->befores[1].op == FileOp::kChmod);
  CHECK(hooks->befores[1].mode == 0600);
  CHECK(hooks->befores[2].op == FileOp::kUtimens);
  hooks->decision.error = EPERM;
  sa.valid = FATTR_UID;
  sa.uid = 0;
  CHECK(c.call(FUSE_SETATTR, f.node, bytes_of(sa)).error == EPERM);
  CHECK(c.getattr(f.node).as<fuse_attr_out>().attr.uid == 1000);
}
