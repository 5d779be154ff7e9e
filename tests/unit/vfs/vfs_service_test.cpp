// The file server behind virtio-fs: the test plays QEMU (the vhost-user front-end, over a
// socketpair, handing over a memfd as guest RAM and eventfds) and the guest driver (filling the
// rings). Covers the protocol, FUSE round trips, and a front-end that misbehaves.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <optional>

#include "vfs/fuse_test_client.h"
#include "vfs/memory_provider.h"
#include "vfs/vfs_service.h"
#include "virtio/vhost_user_front_end.h"

using namespace matchlock;
using namespace matchlock::vfs;
using namespace matchlock::vfs::test;
using namespace matchlock::virtio;
using namespace matchlock::virtio::test;

namespace {

// QEMU's side of virtio-fs: the generic front-end plus the service under test.
class FakeQemu : public VhostUserFrontEnd {
 public:
  std::unique_ptr<VfsService> service;
  std::optional<Error> lost;

  explicit FakeQemu(MountTable mounts = *MountTable::create({}))
      : VhostUserFrontEnd(1 + kVirtioFsRequestQueues) {
    auto s = VfsService::start(&loop, std::move(backend_end), std::move(mounts), "/workspace",
                               nullptr, [this](const Error& e) { lost = e; });
    REQUIRE(s);
    service = std::move(*s);
  }
  ~FakeQemu() {
    service.reset();
    close();
  }

  // Queues `request` on queue `q` (head 0: readable, head 1: `room` writable bytes), kicks,
  // and waits for it to come back. Returns the bytes written (empty when the length is 0).
  std::optional<std::string> call(uint32_t q, const std::string& request, uint32_t room = 8192) {
    auto& r = rings[q];
    const uint64_t in = GuestRing::kData + q * kQueueShift, out = in + request.size() + 64;
    ram.write(in, request);
    std::memset(ram.at(out), 0xee, room);
    r.desc(0, in, static_cast<uint32_t>(request.size()), room ? kNext : 0, 1);
    r.desc(1, out, room, kWrite);
    const uint16_t before = r.used_idx();
    r.make_available(0);
    kick(q);
    for (int i = 0; i < 200 && r.used_idx() == before; ++i) uv_run(&loop, UV_RUN_NOWAIT);
    if (r.used_idx() == before) return std::nullopt;
    auto [id, len] = r.used(before);
    CHECK(id == 0);
    REQUIRE(len <= room);
    return ram.read(out, len);
  }
};

std::string init_request(uint64_t unique) {
  fuse_init_in in{};
  in.major = 7;
  in.minor = 31;
  in.flags = FUSE_BIG_WRITES | FUSE_MAX_PAGES;
  return fuse_request(FUSE_INIT, 0, bytes_of(in), unique);
}

MountTable table_with_hello() {
  auto provider = std::make_shared<MemoryProvider>();
  REQUIRE(provider->mkdir("hello", 0755, Caller{0, 0, 1}).ok());
  return *MountTable::create({Mount{"", provider}});
}

}  // namespace

TEST_CASE("vfs_service_speaks_vhost_user_and_answers_fuse_over_the_rings", "[vfs][virtio]") {
  FakeQemu qemu(table_with_hello());
  qemu.bring_up();
  auto init = qemu.call(1, init_request(1));
  REQUIRE(init);
  Reply r = parse_reply(*init);
  CHECK(r.unique == 1);
  CHECK(r.error == 0);
  CHECK(r.as<fuse_init_out>().max_write == kMaxWrite);
  CHECK(r.as<fuse_init_out>().max_pages == kMaxRead / 4096);  // reads stay 1 MiB
  CHECK(qemu.called(1));                                      // the guest was interrupted
  auto found = qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("hello"), 2));
  REQUIRE(found);
  r = parse_reply(*found);
  CHECK(r.unique == 2);
  CHECK(r.error == 0);
  CHECK(S_ISDIR(r.as<fuse_entry_out>().attr.mode));
  const uint64_t node = r.as<fuse_entry_out>().nodeid;
  auto missing = qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("nothing"), 3));
  REQUIRE(missing);
  CHECK(parse_reply(*missing).error == ENOENT);
  // FORGET on the high-priority queue: no FUSE reply, the chain comes back empty.
  fuse_forget_in forget{1};
  auto forgot = qemu.call(0, fuse_request(FUSE_FORGET, node, bytes_of(forget), 4), 0);
  REQUIRE(forgot);
  CHECK(forgot->empty());
  CHECK_FALSE(qemu.lost);
}

TEST_CASE("vfs_service_gives_eio_when_the_reply_does_not_fit", "[vfs][virtio]") {
  FakeQemu qemu(table_with_hello());
  qemu.bring_up();
  REQUIRE(qemu.call(1, init_request(1)));
  // A LOOKUP reply needs 16 + sizeof(fuse_entry_out) bytes; leave room for the header only.
  auto got = qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("hello"), 2),
                       sizeof(fuse_out_header) + 8);
  REQUIRE(got);
  REQUIRE(got->size() == sizeof(fuse_out_header));
  Reply r = parse_reply(*got);
  CHECK(r.unique == 2);
  CHECK(r.error == EIO);
  // No room at all: the chain comes back empty, nothing is written.
  const std::string lookup = fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("hello"), 3);
  got = qemu.call(1, lookup, 4);
  REQUIRE(got);
  CHECK(got->empty());
  const uint64_t room = GuestRing::kData + kQueueShift + lookup.size() + 64;  // as call() lays out
  CHECK(qemu.ram.read(room, 4) == std::string(4, '\xee'));
}

TEST_CASE("vfs_service_refuses_hostile_requests_without_dying", "[vfs][virtio]") {
  FakeQemu qemu;
  qemu.bring_up();
  REQUIRE(qemu.call(1, init_request(1)));
  // Shorter than a FUSE header, and a header that lies about its length.
  auto got = qemu.call(1, "tiny");
  REQUIRE(got);
  CHECK(got->empty());
  std::string lying = fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("x"), 5);
  uint32_t len = 4096;
  std::memcpy(lying.data(), &len, 4);
  got = qemu.call(1, lying);
  REQUIRE(got);
  CHECK(parse_reply(*got).error == EINVAL);
  // Larger than any FUSE request may be.
  std::string huge = fuse_request(FUSE_WRITE, FUSE_ROOT_ID, std::string(kMaxVfsMessage, 'w'), 6);
  got = qemu.call(1, huge);
  REQUIRE(got);
  CHECK(got->empty());
  // Still serving.
  got = qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("nothing"), 7));
  REQUIRE(got);
  CHECK(parse_reply(*got).error == ENOENT);
  CHECK_FALSE(qemu.lost);
}

TEST_CASE("vfs_service_nacks_bad_vhost_user_requests", "[vfs][virtio]") {
  FakeQemu qemu;
  qemu.bring_up();
  // A memory table whose fd count does not match, one beyond its file, dirty logging, an
  // unknown request, a queue that does not exist: refused, the channel stays up.
  CHECK(qemu.acked(kSetMemTable, FakeQemu::mem_table(qemu.ram.region())) != 0);
  auto beyond = qemu.ram.region();
  beyond.memory_size *= 2;
  CHECK(qemu.acked(kSetMemTable, FakeQemu::mem_table(beyond), {qemu.ram.fd.get()}) != 0);
  CHECK(qemu.acked(kSetLogBase, pack(uint64_t{0}, uint64_t{0})) != 0);
  CHECK(qemu.acked(999, "") != 0);
  CHECK(qemu.acked(kSetVringNum, pack(uint32_t{7}, uint32_t{16})) != 0);
  CHECK(qemu.acked(kSetVringNum, pack(uint32_t{1}, uint32_t{100})) != 0);  // not a power of 2
  CHECK(qemu.acked(kSetVringKick, pack(uint64_t{1} | (1u << 8))) != 0);    // polling: refused
  CHECK(qemu.acked(kSetVringNum, pack(uint32_t{1})) != 0);                 // short payload
  // The old table is still in force: requests are served.
  auto got = qemu.call(1, init_request(1));
  REQUIRE(got);
  CHECK(parse_reply(*got).error == 0);
  // GET_VRING_BASE stops the ring and says where it stopped.
  qemu.send(kGetVringBase, pack(uint32_t{1}, uint32_t{0}));
  auto base = qemu.reply();
  REQUIRE(base);
  REQUIRE(base->payload.size() == 8);
  uint32_t state[2];
  std::memcpy(state, base->payload.data(), 8);
  CHECK(state[0] == 1);
  CHECK(state[1] == 1);
  CHECK_FALSE(qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("x"), 2)));
  CHECK_FALSE(qemu.lost);
}

TEST_CASE("vfs_service_ends_the_channel_on_malformed_messages", "[vfs][virtio]") {
  SECTION("oversized") {
    FakeQemu qemu;
    qemu.send(kSetOwner, std::string(8192, 'x'));
    CHECK_FALSE(qemu.reply());
    CHECK(qemu.lost);
  }
  SECTION("too many descriptors") {
    FakeQemu qemu;
    std::vector<int> fds(12, qemu.ram.fd.get());
    qemu.send(kSetMemTable, FakeQemu::mem_table(qemu.ram.region()), fds);
    CHECK_FALSE(qemu.reply());
    CHECK(qemu.lost);
  }
  SECTION("bad version") {
    FakeQemu qemu;
    qemu.send(kGetFeatures, "", {}, 0x2);
    CHECK_FALSE(qemu.reply());
    CHECK(qemu.lost);
  }
  SECTION("front-end gone") {
    FakeQemu qemu;
    qemu.sock.reset();
    for (int i = 0; i < 20; ++i) uv_run(&qemu.loop, UV_RUN_NOWAIT);
    CHECK(qemu.lost);
  }
}

TEST_CASE("vfs_service_moves_a_mebibyte_each_way", "[vfs][virtio]") {
  FakeQemu qemu;
  qemu.bring_up();
  REQUIRE(qemu.call(1, init_request(1)));
  fuse_create_in cr{};
  cr.flags = O_RDWR | O_CREAT;
  cr.mode = S_IFREG | 0644;
  auto created =
      qemu.call(1, fuse_request(FUSE_CREATE, FUSE_ROOT_ID, bytes_of(cr) + cstr("big"), 2));
  REQUIRE(created);
  Reply c = parse_reply(*created);
  REQUIRE(c.error == 0);
  fuse_open_out o{};
  std::memcpy(&o, c.body.data() + sizeof(fuse_entry_out), sizeof(o));
  const uint64_t node = c.as<fuse_entry_out>().nodeid;
  fuse_write_in w{};
  w.fh = o.fh;
  w.size = kMaxWrite;
  auto wrote =
      qemu.call(1, fuse_request(FUSE_WRITE, node, bytes_of(w) + std::string(kMaxWrite, 'z'), 3));
  REQUIRE(wrote);
  CHECK(parse_reply(*wrote).as<fuse_write_out>().size == kMaxWrite);
  fuse_read_in rd{};
  rd.fh = o.fh;
  rd.size = kMaxWrite;
  auto read = qemu.call(1, fuse_request(FUSE_READ, node, bytes_of(rd), 4), kMaxRead + 16);
  REQUIRE(read);
  Reply r = parse_reply(*read);
  CHECK(r.error == 0);
  CHECK(r.body == std::string(kMaxWrite, 'z'));
}

TEST_CASE("vfs_service_starts_a_new_session_on_a_remount", "[vfs][virtio]") {
  FakeQemu qemu(table_with_hello());
  qemu.bring_up();
  REQUIRE(parse_reply(*qemu.call(1, init_request(1))).error == 0);
  auto found = qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("hello"), 2));
  const uint64_t old_node = parse_reply(*found).as<fuse_entry_out>().nodeid;
  REQUIRE(parse_reply(*qemu.call(1, fuse_request(FUSE_DESTROY, 0, "", 3))).error == 0);
  // The guest mounts the tag again: a fresh INIT is accepted, old node ids are gone.
  auto again = qemu.call(1, init_request(1));
  REQUIRE(again);
  CHECK(parse_reply(*again).error == 0);
  auto stale = qemu.call(1, fuse_request(FUSE_GETATTR, old_node, bytes_of(fuse_getattr_in{}), 2));
  REQUIRE(stale);
  CHECK(parse_reply(*stale).error != 0);
  found = qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("hello"), 3));
  CHECK(parse_reply(*found).error == 0);
}

// --- migration: dirty logging refused, device state over a pipe ------------------------------

namespace {

constexpr uint32_t kSetLogFd = 7, kSetDeviceStateFd = 42, kCheckDeviceState = 43;
constexpr uint64_t kLogAll = uint64_t{1} << 26;
constexpr uint64_t kLogShmfd = uint64_t{1} << 1, kDeviceState = uint64_t{1} << 19;
constexpr uint32_t kSave = 0, kLoad = 1, kStopped = 0;
constexpr uint64_t kNoFdBack = uint64_t{1} << 8;
const std::string kNoSessionRecord("MLVFS\x01\x00", 7);
const std::string kEmptySessionRecord("MLVFS\x01\x01", 7);

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    read = UniqueFd(p[0]);
    write = UniqueFd(p[1]);
  }
};

// bring_up(), with DEVICE_STATE negotiated as QEMU >= 9 does.
void bring_up_migratable(FakeQemu& qemu) {
  qemu.bring_up();
  qemu.send(kSetProtocolFeatures, pack(kReplyAck | kDeviceState | kLogShmfd));
}

// SET_DEVICE_STATE_FD's u64 reply.
uint64_t set_device_state_fd(FakeQemu& qemu, uint32_t direction, uint32_t phase, int fd) {
  qemu.send(kSetDeviceStateFd, pack(direction, phase), {fd});
  auto r = qemu.reply();
  REQUIRE(r);
  REQUIRE(r->request == kSetDeviceStateFd);
  REQUIRE(r->payload.size() == 8);
  uint64_t v = 0;
  std::memcpy(&v, r->payload.data(), 8);
  return v;
}

std::string read_all(int fd) {
  std::string out;
  char buf[256];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

}  // namespace

TEST_CASE("vfs_service_offers_what_qemu_needs_to_migrate_it", "[vfs][virtio][migration]") {
  FakeQemu qemu;
  CHECK((qemu.get_u64(kGetFeatures) & kLogAll) == kLogAll);
  CHECK((qemu.get_u64(kGetProtocolFeatures) & (kDeviceState | kLogShmfd)) ==
        (kDeviceState | kLogShmfd));
}

TEST_CASE("vfs_service_refuses_dirty_logging_loudly", "[vfs][virtio][migration]") {
  SECTION("nacked when QEMU waits for the answer") {
    FakeQemu qemu;
    bring_up_migratable(qemu);
    CHECK(qemu.acked(kSetFeatures, pack(kVersion1 | kProtocolFeatures | kLogAll)) != 0);
    CHECK(qemu.acked(kSetLogFd, pack(uint64_t{0})) != 0);
    CHECK_FALSE(qemu.lost);
  }
  SECTION("the channel ends when QEMU would not hear a nack") {
    FakeQemu qemu;
    bring_up_migratable(qemu);
    Pipe log;  // stands for the shared log memory
    qemu.send(kSetLogBase, pack(uint64_t{4096}, uint64_t{0}), {log.read.get()});
    CHECK_FALSE(qemu.reply());
    REQUIRE(qemu.lost);
    CHECK(qemu.lost->message.find("dirty logging") != std::string::npos);
  }
}

TEST_CASE("vfs_service_saves_a_device_without_a_fuse_session", "[vfs][virtio][migration]") {
  FakeQemu qemu;
  bring_up_migratable(qemu);
  Pipe p;
  // Success, and no fd back: the state is in QEMU's pipe, whose write end we closed.
  CHECK(set_device_state_fd(qemu, kSave, kStopped, p.write.get()) == kNoFdBack);
  p.write.reset();
  CHECK(read_all(p.read.get()) == kNoSessionRecord);
  CHECK(qemu.get_u64(kCheckDeviceState) == 0);
  // A check is for one transfer: another without a transfer fails.
  CHECK(qemu.get_u64(kCheckDeviceState) != 0);
  // Only the "stopped" phase exists.
  Pipe q;
  CHECK((set_device_state_fd(qemu, kSave, 1, q.write.get()) & 0xff) != 0);
  CHECK(qemu.get_u64(kCheckDeviceState) != 0);
  CHECK_FALSE(qemu.lost);
}

TEST_CASE("vfs_service_saves_a_mounted_file_system_nobody_used_yet", "[vfs][virtio][migration]") {
  FakeQemu qemu(table_with_hello());
  bring_up_migratable(qemu);
  // The guest's boot mounted the workspace: INIT, then the statfs it waits with.
  REQUIRE(parse_reply(*qemu.call(1, init_request(1))).error == 0);
  REQUIRE(parse_reply(*qemu.call(1, fuse_request(FUSE_STATFS, FUSE_ROOT_ID, "", 2))).error == 0);
  Pipe p;
  CHECK(set_device_state_fd(qemu, kSave, kStopped, p.write.get()) == kNoFdBack);
  p.write.reset();
  CHECK(read_all(p.read.get()) == kEmptySessionRecord);
  CHECK(qemu.get_u64(kCheckDeviceState) == 0);
  CHECK_FALSE(qemu.lost);
}

TEST_CASE("vfs_service_refuses_to_save_a_file_system_in_use", "[vfs][virtio][migration]") {
  FakeQemu qemu(table_with_hello());
  bring_up_migratable(qemu);
  REQUIRE(parse_reply(*qemu.call(1, init_request(1))).error == 0);
  // A node id the guest's kernel holds: a restored guest would name it to a server without it.
  REQUIRE(
      parse_reply(*qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("hello"), 2))).error ==
      0);
  Pipe p;
  const uint64_t r = set_device_state_fd(qemu, kSave, kStopped, p.write.get());
  CHECK((r & 0xff) != 0);
  CHECK((r & kNoFdBack) == kNoFdBack);  // an error never comes with an fd
  p.write.reset();
  CHECK(read_all(p.read.get()).empty());
  CHECK(qemu.get_u64(kCheckDeviceState) != 0);
  CHECK_FALSE(qemu.lost);
}

TEST_CASE("vfs_service_goes_on_with_the_saved_empty_session", "[vfs][virtio][migration]") {
  auto load = [](FakeQemu& qemu, const std::string& record) {
    Pipe p;
    REQUIRE(set_device_state_fd(qemu, kLoad, kStopped, p.read.get()) == kNoFdBack);
    p.read.reset();
    REQUIRE(::write(p.write.get(), record.data(), record.size()) ==
            static_cast<ssize_t>(record.size()));
    uv_run(&qemu.loop, UV_RUN_NOWAIT);
    p.write.reset();
    return qemu.get_u64(kCheckDeviceState);
  };
  // The restored guest's first request: a lookup in the root, answered with this errno.
  auto first_lookup_after = [&](FakeQemu& qemu, const std::string& record) {
    bring_up_migratable(qemu);
    REQUIRE(load(qemu, record) == 0);
    auto found = qemu.call(1, fuse_request(FUSE_LOOKUP, FUSE_ROOT_ID, cstr("hello"), 7));
    REQUIRE(found);
    return parse_reply(*found).error;
  };
  SECTION("requests are served without a new INIT") {
    FakeQemu qemu(table_with_hello());
    CHECK(first_lookup_after(qemu, kEmptySessionRecord) == 0);
    // The guest may still remount: a new INIT starts a new session.
    CHECK(parse_reply(*qemu.call(1, init_request(8))).error == 0);
  }
  SECTION("a device without a saved session wants INIT first") {
    FakeQemu qemu(table_with_hello());
    CHECK(first_lookup_after(qemu, kNoSessionRecord) == EIO);
  }
  SECTION("a session is never loaded over a live one") {
    FakeQemu qemu(table_with_hello());
    bring_up_migratable(qemu);
    REQUIRE(parse_reply(*qemu.call(1, init_request(1))).error == 0);
    CHECK(load(qemu, kEmptySessionRecord) != 0);
  }
}

TEST_CASE("vfs_service_loads_only_its_own_bounded_record", "[vfs][virtio][migration]") {
  FakeQemu qemu;
  bring_up_migratable(qemu);
  auto load = [&](const std::string& bytes, bool close_first = true) {
    Pipe p;
    REQUIRE(set_device_state_fd(qemu, kLoad, kStopped, p.read.get()) == kNoFdBack);
    p.read.reset();
    // QEMU writes after the reply, then closes, then checks.
    size_t at = 0;
    while (at < bytes.size()) {
      ssize_t n = ::write(p.write.get(), bytes.data() + at, bytes.size() - at);
      if (n < 0 && errno == EPIPE) break;  // we stopped reading: too much
      REQUIRE(n > 0);
      at += static_cast<size_t>(n);
      uv_run(&qemu.loop, UV_RUN_NOWAIT);
    }
    if (close_first) p.write.reset();
    return qemu.get_u64(kCheckDeviceState);
  };
  void (*old)(int) = ::signal(SIGPIPE, SIG_IGN);
  CHECK(load(kNoSessionRecord) == 0);
  CHECK(load("") != 0);
  CHECK(load(kNoSessionRecord.substr(0, 6)) != 0);
  CHECK(load(kNoSessionRecord + "x") != 0);
  CHECK(load(std::string("MLVFS\x02\x00", 7)) != 0);
  CHECK(load(std::string("MLVFS\x01\x02", 7)) != 0);
  CHECK(load(std::string(64 * 1024, 'x')) != 0);  // beyond the cap: refused, not buffered
  CHECK(load(kNoSessionRecord, false) != 0);      // QEMU checked before it finished
  ::signal(SIGPIPE, old);
  CHECK_FALSE(qemu.lost);
}
