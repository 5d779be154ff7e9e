// A stand-in for the guest's RAM and one split ring in it, for the virtio-fs tests: a memfd the
// test maps as the "guest" (to fill rings like a driver would) and hands to GuestMemory /
// the backend as the "host" would receive it from QEMU.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/unique_fd.h"
#include "virtio/guest_memory.h"

namespace matchlock::virtio::test {

struct GuestRam {
  static constexpr uint64_t kGpa = 0x100000;          // guest-physical start
  static constexpr uint64_t kUaddr = 0x7f0000000000;  // QEMU's virtual address of it
  static constexpr uint64_t kSize = 4 * 1024 * 1024;
  UniqueFd fd;
  uint8_t* base = nullptr;

  // Sealed like QEMU's memory-backend-memfd (seal=on): its size can no longer change.
  GuestRam() : fd(::memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING)) {
    REQUIRE(fd.valid());
    REQUIRE(::ftruncate(fd.get(), kSize) == 0);
    REQUIRE(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0);
    void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    REQUIRE(p != MAP_FAILED);
    base = static_cast<uint8_t*>(p);
  }
  ~GuestRam() { ::munmap(base, kSize); }
  GuestMemoryRegion region() const { return {kGpa, kSize, kUaddr, 0}; }
  UniqueFd dup_fd() const { return UniqueFd(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0)); }
  GuestMemory map() const {
    std::vector<UniqueFd> fds;
    fds.push_back(dup_fd());
    auto m = GuestMemory::map({region()}, std::move(fds));
    REQUIRE(m.ok());
    return std::move(m.value());
  }
  uint8_t* at(uint64_t gpa) { return base + (gpa - kGpa); }
  void write(uint64_t gpa, const std::string& s) { std::memcpy(at(gpa), s.data(), s.size()); }
  std::string read(uint64_t gpa, size_t n) {
    return std::string(reinterpret_cast<char*>(at(gpa)), n);
  }
};

// One split ring laid out from the start of the RAM: descriptors, available, used; buffers
// start at kData.
struct GuestRing {
  static constexpr uint32_t kNum = 16;
  static constexpr uint64_t kDesc = GuestRam::kGpa;
  static constexpr uint64_t kAvail = kDesc + 16 * kNum;
  static constexpr uint64_t kUsed = kDesc + 4096;
  static constexpr uint64_t kData = kDesc + 8192;
  GuestRam& ram;
  uint16_t avail_idx = 0;

  explicit GuestRing(GuestRam& r, uint64_t offset = 0) : ram(r), shift(offset) {}
  uint64_t shift = 0;  // a second ring in the same RAM sits `shift` bytes further

  uint64_t desc_gpa() const { return kDesc + shift; }
  uint64_t avail_gpa() const { return kAvail + shift; }
  uint64_t used_gpa() const { return kUsed + shift; }
  static uint64_t uaddr(uint64_t gpa) { return gpa - GuestRam::kGpa + GuestRam::kUaddr; }

  void desc(uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next = 0) {
    uint8_t* d = ram.at(desc_gpa()) + 16 * i;
    std::memcpy(d, &addr, 8);
    std::memcpy(d + 8, &len, 4);
    std::memcpy(d + 12, &flags, 2);
    std::memcpy(d + 14, &next, 2);
  }
  void make_available(uint16_t head) {
    uint16_t slot = avail_idx % kNum;
    std::memcpy(ram.at(avail_gpa()) + 4 + 2 * slot, &head, 2);
    ++avail_idx;
    std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(ram.at(avail_gpa()) + 2))
        .store(avail_idx, std::memory_order_release);
  }
  void set_avail_idx(uint16_t v) {
    avail_idx = v;
    std::memcpy(ram.at(avail_gpa()) + 2, &v, 2);
  }
  uint16_t used_idx() {
    return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(ram.at(used_gpa()) + 2))
        .load(std::memory_order_acquire);
  }
  std::pair<uint32_t, uint32_t> used(uint16_t i) {  // {id, len}
    uint32_t v[2];
    std::memcpy(v, ram.at(used_gpa()) + 4 + 8 * (i % kNum), 8);
    return {v[0], v[1]};
  }
};

}  // namespace matchlock::virtio::test
