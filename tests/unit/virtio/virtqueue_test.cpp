// The split ring against a hostile driver: every field of the ring is the guest's to corrupt.
#include <catch2/catch.hpp>

#include <sys/eventfd.h>

#include <cerrno>
#include <cstring>

#include "virtio/guest_ram_fixture.h"
#include "virtio/virtqueue.h"

using namespace matchlock;
using namespace matchlock::virtio;
using namespace matchlock::virtio::test;

namespace {

constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;

struct Fixture {
  GuestRam ram;
  GuestRing ring{ram};
  GuestMemory mem = ram.map();
  Virtqueue vq;
  Fixture() {
    REQUIRE(vq.set_size(GuestRing::kNum));
    vq.set_addresses({GuestRing::uaddr(ring.desc_gpa()), GuestRing::uaddr(ring.avail_gpa()),
                      GuestRing::uaddr(ring.used_gpa())});
  }
  Virtqueue::Pop pop(size_t max = 1 << 20) { return vq.pop(mem, max); }
};

}  // namespace

TEST_CASE("virtqueue_gathers_the_request_and_scatters_the_reply", "[virtio]") {
  Fixture f;
  const uint64_t d = GuestRing::kData;
  f.ram.write(d, "hello ");
  f.ram.write(d + 100, "world");
  f.ring.desc(3, d, 6, kNext, 7);
  f.ring.desc(7, d + 100, 5, kNext, 1);
  f.ring.desc(1, d + 200, 4, kWrite | kNext, 2);
  f.ring.desc(2, d + 300, 10, kWrite);
  f.ring.make_available(3);
  auto p = f.pop();
  REQUIRE(p.what == Virtqueue::Popped::kChain);
  CHECK(p.chain.head == 3);
  CHECK(p.chain.readable == "hello world");
  CHECK(p.chain.writable_bytes == 14);
  CHECK(f.pop().what == Virtqueue::Popped::kEmpty);
  CHECK(f.vq.in_flight() == 1);
  CHECK_FALSE(Virtqueue::scatter(f.mem, p.chain, std::string(15, 'x')));  // too big: nothing
  CHECK(f.ram.read(d + 200, 4) == std::string(4, '\0'));
  REQUIRE(Virtqueue::scatter(f.mem, p.chain, "abcdefg"));
  CHECK(f.ram.read(d + 200, 4) == "abcd");
  CHECK(f.ram.read(d + 300, 3) == "efg");
  REQUIRE(f.vq.push(f.mem, p.chain.head, 7));
  CHECK(f.ring.used_idx() == 1);
  CHECK(f.ring.used(0) == std::pair<uint32_t, uint32_t>{3, 7});
  CHECK(f.vq.in_flight() == 0);
}

TEST_CASE("virtqueue_leaves_readable_bytes_past_the_inline_limit_in_place", "[virtio]") {
  Fixture f;
  const uint64_t d = GuestRing::kData;
  f.ram.write(d, "head");
  f.ram.write(d + 100, "er+payload");
  f.ring.desc(0, d, 4, kNext, 1);
  f.ring.desc(1, d + 100, 10, kNext, 2);
  f.ring.desc(2, d + 200, 4, kWrite | kNext, 3);
  f.ring.desc(3, d + 300, 6, kWrite);
  f.ring.make_available(0);
  auto p = f.vq.pop(f.mem, 1 << 20, 6);
  REQUIRE(p.what == Virtqueue::Popped::kChain);
  CHECK(p.chain.readable == "header");
  REQUIRE(p.chain.readable_rest.size() == 1);
  CHECK(p.chain.readable_rest[0].addr == d + 102);
  CHECK(p.chain.readable_rest[0].len == 8);
  auto rest = Virtqueue::map(f.mem, p.chain.readable_rest);
  REQUIRE(rest);
  REQUIRE(rest->size() == 1);
  CHECK(std::string(static_cast<char*>((*rest)[0].iov_base), (*rest)[0].iov_len) == "+payload");
  // The reply room after a 5-byte header: one byte of the first buffer, all of the second.
  auto room = Virtqueue::map(f.mem, p.chain.writable, 5);
  REQUIRE(room);
  REQUIRE(room->size() == 1);
  CHECK((*room)[0].iov_len == 5);
  std::memcpy((*room)[0].iov_base, "ROOM!", 5);
  CHECK(f.ram.read(d + 301, 5) == "ROOM!");
  CHECK(Virtqueue::map(f.mem, p.chain.writable, 10)->empty());
  // A buffer outside guest memory does not map.
  std::vector<GuestBuffer> outside = {{GuestRam::kGpa + GuestRam::kSize - 2, 8}};
  CHECK_FALSE(Virtqueue::map(f.mem, outside));
}

TEST_CASE("virtqueue_returns_bad_chains_empty_and_keeps_going", "[virtio]") {
  Fixture f;
  const uint64_t d = GuestRing::kData;
  struct Case {
    const char* what;
    std::function<void(GuestRing&)> build;  // builds a chain at head 0
  };
  std::vector<Case> cases = {
      {"address outside RAM", [&](GuestRing& r) { r.desc(0, 0x10, 8, 0); }},
      {"range crossing the end of RAM",
       [&](GuestRing& r) { r.desc(0, GuestRam::kGpa + GuestRam::kSize - 4, 8, 0); }},
      {"huge length", [&](GuestRing& r) { r.desc(0, d, 0xffffffff, 0); }},
      {"wrapping address", [&](GuestRing& r) { r.desc(0, UINT64_MAX - 2, 16, 0); }},
      {"writable outside RAM",
       [&](GuestRing& r) {
         r.desc(0, d, 8, kNext, 1);
         r.desc(1, 0, 8, kWrite);
       }},
      {"loop",
       [&](GuestRing& r) {
         r.desc(0, d, 8, kNext, 1);
         r.desc(1, d, 8, kNext, 0);
       }},
      {"self loop", [&](GuestRing& r) { r.desc(0, d, 1, kNext, 0); }},
      {"next out of range", [&](GuestRing& r) { r.desc(0, d, 8, kNext, 999); }},
      {"readable after writable",
       [&](GuestRing& r) {
         r.desc(0, d, 8, kWrite | kNext, 1);
         r.desc(1, d, 8, 0);
       }},
      {"indirect", [&](GuestRing& r) { r.desc(0, d, 16, kIndirect); }},
      {"request over the bound",
       [&](GuestRing& r) {
         r.desc(0, d, 600, kNext, 1);
         r.desc(1, d, 600, 0);
       }},
  };
  for (auto& c : cases) {
    INFO(c.what);
    c.build(f.ring);
    f.ring.make_available(0);
    auto p = f.vq.pop(f.mem, 1000);
    CHECK(p.what == Virtqueue::Popped::kBadChain);
    CHECK(p.chain.head == 0);
    CHECK(p.chain.readable.empty());
    CHECK(p.chain.writable.empty());
    CHECK(f.vq.push(f.mem, 0, 0));
  }
  // The ring still works after all that.
  f.ring.desc(0, d, 4, 0);
  f.ring.make_available(0);
  auto p = f.vq.pop(f.mem, 1000);
  CHECK(p.what == Virtqueue::Popped::kChain);
  CHECK(f.ring.used_idx() == cases.size());
}

TEST_CASE("virtqueue_stops_on_an_inconsistent_ring", "[virtio]") {
  SECTION("available index too far ahead") {
    Fixture f;
    f.ring.set_avail_idx(GuestRing::kNum + 1);
    CHECK(f.pop().what == Virtqueue::Popped::kBroken);
    CHECK(f.vq.broken());
    CHECK(f.pop().what == Virtqueue::Popped::kBroken);  // stays stopped
  }
  SECTION("head out of range") {
    Fixture f;
    f.ring.make_available(GuestRing::kNum);
    CHECK(f.pop().what == Virtqueue::Popped::kBroken);
  }
  SECTION("rings outside memory or misaligned") {
    Fixture f;
    f.vq.set_addresses({0x1000, 0x2000, 0x3000});
    CHECK(f.pop().what == Virtqueue::Popped::kBroken);
    Fixture g;
    g.vq.set_addresses({GuestRing::uaddr(g.ring.desc_gpa()) + 1,
                        GuestRing::uaddr(g.ring.avail_gpa()), GuestRing::uaddr(g.ring.used_gpa())});
    CHECK(g.pop().what == Virtqueue::Popped::kBroken);
    Fixture h;  // the used ring running off the end of RAM
    h.vq.set_addresses({GuestRing::uaddr(h.ring.desc_gpa()), GuestRing::uaddr(h.ring.avail_gpa()),
                        GuestRam::kUaddr + GuestRam::kSize - 8});
    CHECK(h.pop().what == Virtqueue::Popped::kBroken);
  }
}

TEST_CASE("virtqueue_never_holds_more_chains_than_the_ring", "[virtio]") {
  Fixture f;
  // The guest keeps re-posting head 0 without waiting for it to come back.
  f.ring.desc(0, GuestRing::kData, 4, 0);
  for (uint32_t i = 0; i < GuestRing::kNum; ++i) f.ring.make_available(0);
  for (uint32_t i = 0; i < GuestRing::kNum; ++i) {
    REQUIRE(f.pop().what == Virtqueue::Popped::kChain);
  }
  f.ring.make_available(0);
  CHECK(f.pop().what == Virtqueue::Popped::kEmpty);
  CHECK(f.vq.in_flight() == GuestRing::kNum);
  REQUIRE(f.vq.push(f.mem, 0, 0));
  CHECK(f.pop().what == Virtqueue::Popped::kChain);
}

TEST_CASE("virtqueue_refuses_bad_sizes", "[virtio]") {
  Virtqueue vq;
  CHECK_FALSE(vq.set_size(0));
  CHECK_FALSE(vq.set_size(3));
  CHECK_FALSE(vq.set_size(2048));
  CHECK(vq.set_size(1024));
}

TEST_CASE("virtqueue_signals_its_call_fd_unless_the_driver_asked_for_no_interrupts", "[virtio]") {
  Fixture f;
  UniqueFd call(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  int raw = call.get();
  f.vq.set_call(std::move(call));
  f.vq.notify(f.mem);
  uint64_t v = 0;
  CHECK(::read(raw, &v, sizeof(v)) == sizeof(v));
  CHECK(v == 1);
  // VRING_AVAIL_F_NO_INTERRUPT in the available ring's flags: the driver polls, no interrupt.
  const uint16_t no_interrupt = 1;
  std::memcpy(f.ram.at(f.ring.avail_gpa()), &no_interrupt, 2);
  f.vq.notify(f.mem);
  CHECK(::read(raw, &v, sizeof(v)) == -1);
  CHECK(errno == EAGAIN);
  const uint16_t interrupts = 0;
  std::memcpy(f.ram.at(f.ring.avail_gpa()), &interrupts, 2);
  f.vq.notify(f.mem);
  CHECK(::read(raw, &v, sizeof(v)) == sizeof(v));
}

TEST_CASE("virtqueue_unpops_the_chains_taken_since_the_last_push_and_no_more", "[virtio]") {
  Fixture f;
  for (uint16_t i = 0; i < 3; ++i) {
    f.ring.desc(i, GuestRing::kData + 64 * i, 64, kWrite);
    f.ring.make_available(i);
  }
  REQUIRE(f.pop().chain.head == 0);
  REQUIRE(f.vq.push(f.mem, 0, 10));
  REQUIRE(f.pop().chain.head == 1);
  REQUIRE(f.pop().chain.head == 2);
  CHECK_FALSE(f.vq.unpop(3));  // the first was pushed: it cannot come back
  REQUIRE(f.vq.unpop(2));
  CHECK(f.vq.in_flight() == 0);
  CHECK(f.vq.base() == 1);
  CHECK(f.pop().chain.head == 1);  // taken again, in order
  CHECK(f.pop().chain.head == 2);
}

TEST_CASE("virtqueue_publishes_chains_pushed_together_with_one_index_update", "[virtio]") {
  Fixture f;
  for (uint16_t i = 0; i < 3; ++i) {
    f.ring.desc(i, GuestRing::kData + 64 * i, 64, kWrite);
    f.ring.make_available(i);
    REQUIRE(f.pop().what == Virtqueue::Popped::kChain);
  }
  const Virtqueue::Used used[] = {{0, 64}, {1, 64}, {2, 5}};
  REQUIRE(f.vq.push_together(f.mem, used));
  CHECK(f.ring.used_idx() == 3);
  CHECK(f.ring.used(2) == std::pair<uint32_t, uint32_t>{2, 5});
  CHECK(f.vq.in_flight() == 0);
}
