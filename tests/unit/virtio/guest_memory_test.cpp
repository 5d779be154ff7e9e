#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "virtio/guest_ram_fixture.h"

using namespace matchlock;
using namespace matchlock::virtio;
using namespace matchlock::virtio::test;

TEST_CASE("guest_memory_translates_only_ranges_wholly_inside_a_region", "[virtio]") {
  GuestRam ram;
  GuestMemory mem = ram.map();
  const uint64_t g = GuestRam::kGpa, u = GuestRam::kUaddr, n = GuestRam::kSize;
  ram.write(g + 100, "hello");
  REQUIRE(mem.guest_range(g + 100, 5) != nullptr);
  CHECK(std::memcmp(mem.guest_range(g + 100, 5), "hello", 5) == 0);
  CHECK(mem.qemu_range(u + 100, 5) == mem.guest_range(g + 100, 5));
  CHECK(mem.guest_range(g, n) != nullptr);          // the whole region
  CHECK(mem.guest_range(g + n, 0) != nullptr);      // empty, at the very end
  CHECK(mem.guest_range(g - 1, 2) == nullptr);      // starts before
  CHECK(mem.guest_range(g + n - 4, 5) == nullptr);  // ends after
  CHECK(mem.guest_range(g + n, 1) == nullptr);
  CHECK(mem.guest_range(0, 16) == nullptr);
  // Sums that would wrap around 2^64 must not wrap into the region.
  CHECK(mem.guest_range(g + 8, UINT64_MAX) == nullptr);
  CHECK(mem.guest_range(UINT64_MAX, 2) == nullptr);
  CHECK(mem.guest_range(UINT64_MAX - 1, UINT64_MAX) == nullptr);
  CHECK(mem.qemu_range(g + 100, 5) == nullptr);  // a guest address is not a QEMU address
}

TEST_CASE("guest_memory_refuses_bad_tables", "[virtio]") {
  GuestRam ram;
  auto map = [&](std::vector<GuestMemoryRegion> regions, size_t fds) {
    std::vector<UniqueFd> v;
    for (size_t i = 0; i < fds; ++i) v.push_back(ram.dup_fd());
    return GuestMemory::map(regions, std::move(v)).ok();
  };
  const auto r = ram.region();
  CHECK(map({r}, 1));
  CHECK_FALSE(map({}, 0));
  CHECK_FALSE(map({r}, 0));  // an fd per region
  CHECK_FALSE(map({r}, 2));
  CHECK_FALSE(map({{r.guest_phys_addr, 0, r.userspace_addr, 0}}, 1));  // empty
  // Beyond the end of the file: touching it would be SIGBUS, so it is refused.
  CHECK_FALSE(map({{r.guest_phys_addr, GuestRam::kSize, r.userspace_addr, 4096}}, 1));
  CHECK_FALSE(map({{r.guest_phys_addr, GuestRam::kSize * 2, r.userspace_addr, 0}}, 1));
  CHECK_FALSE(map({{UINT64_MAX - 10, 4096, r.userspace_addr, 0}}, 1));  // wraps
  CHECK_FALSE(map({{r.guest_phys_addr, 4096, r.userspace_addr, UINT64_MAX - 10}}, 1));
  // Overlapping guest ranges.
  CHECK_FALSE(map({{0x1000, 0x2000, 0x10000, 0}, {0x2000, 0x1000, 0x20000, 0x2000}}, 2));
  CHECK(map({{0x1000, 0x1000, 0x10000, 0}, {0x2000, 0x1000, 0x20000, 0x1000}}, 2));
  std::vector<GuestMemoryRegion> many(GuestMemory::kMaxRegions + 1);
  for (size_t i = 0; i < many.size(); ++i)
    many[i] = {0x1000 * (i + 1), 0x1000, 0x100000 * (i + 1), 0};
  CHECK_FALSE(map(many, many.size()));
}

// A subverted QEMU that shrank the RAM file after the table was mapped would make the owner's
// next look at a ring a SIGBUS. Only a memfd sealed against shrinking is mapped.
TEST_CASE("guest_memory_maps_only_files_that_can_never_shrink", "[virtio]") {
  const GuestMemoryRegion r{GuestRam::kGpa, 1 << 20, GuestRam::kUaddr, 0};
  auto map_fd = [&](UniqueFd fd) {
    std::vector<UniqueFd> fds;
    fds.push_back(std::move(fd));
    return GuestMemory::map({r}, std::move(fds));
  };
  UniqueFd unsealed(::memfd_create("ram", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  REQUIRE(::ftruncate(unsealed.get(), 1 << 20) == 0);
  auto refused = map_fd(UniqueFd(::fcntl(unsealed.get(), F_DUPFD_CLOEXEC, 0)));
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message ==
        "guest memory: region 0 is not a memfd sealed against shrinking");
  // Sealed only against growing: it could still shrink.
  REQUIRE(::fcntl(unsealed.get(), F_ADD_SEALS, F_SEAL_GROW) == 0);
  CHECK_FALSE(map_fd(UniqueFd(::fcntl(unsealed.get(), F_DUPFD_CLOEXEC, 0))).ok());
  // A regular file has no seals at all.
  char path[] = "/tmp/matchlock-guest-ram-XXXXXX";
  UniqueFd file(::mkstemp(path));
  REQUIRE(file.valid());
  ::unlink(path);
  REQUIRE(::ftruncate(file.get(), 1 << 20) == 0);
  CHECK_FALSE(map_fd(std::move(file)).ok());

  // Sealed like QEMU's RAM: mapped, and the file can no longer be shrunk under the mapping.
  GuestRam ram;
  GuestMemory mem = ram.map();
  CHECK(::ftruncate(ram.fd.get(), 0) == -1);
  CHECK(errno == EPERM);
  CHECK(mem.guest_range(GuestRam::kGpa + GuestRam::kSize - 1, 1) != nullptr);
}

TEST_CASE("guest_memory_maps_regions_at_unaligned_file_offsets", "[virtio]") {
  GuestRam ram;
  ram.write(GuestRam::kGpa + 8192 + 10, "x");
  std::vector<UniqueFd> fds;
  fds.push_back(ram.dup_fd());
  // The second region of QEMU's RAM often starts mid-file; offsets need not be page aligned.
  auto mem = GuestMemory::map({{0x5000, 4096, 0x9000, 8192 + 10}}, std::move(fds));
  REQUIRE(mem.ok());
  REQUIRE(mem->guest_range(0x5000, 1));
  CHECK(*mem->guest_range(0x5000, 1) == 'x');
  CHECK(mem->guest_range(0x5000 + 4096, 1) == nullptr);
}

TEST_CASE("guest_memory_replacing_the_table_unmaps_the_old_one", "[virtio]") {
  GuestRam ram;
  GuestMemory mem = ram.map();
  uint8_t* old = mem.guest_range(GuestRam::kGpa, 1);
  REQUIRE(old);
  std::vector<UniqueFd> fds;
  fds.push_back(ram.dup_fd());
  auto next = GuestMemory::map({{0x40000000, 4096, 0x1000, 0}}, std::move(fds));
  REQUIRE(next.ok());
  mem = std::move(next.value());
  CHECK(mem.guest_range(GuestRam::kGpa, 1) == nullptr);
  CHECK(mem.size() == 1);
  // The old mapping is gone: mincore on it fails with ENOMEM.
  unsigned char vec = 0;
  CHECK(::mincore(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(old) & ~uintptr_t{4095}),
                  4096, &vec) != 0);
}
