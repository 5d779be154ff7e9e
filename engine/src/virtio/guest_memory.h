// The guest's RAM as QEMU shares it with a vhost-user backend (VHOST_USER_SET_MEM_TABLE): each
// region is a memfd slice mapped here MAP_SHARED. Virtqueue descriptors name guest-physical
// addresses; the ring addresses QEMU gives name its own virtual addresses (userspace_addr).
// Both translate to host pointers only when the whole range lies inside one region: the
// addresses come from the guest (or QEMU) and are never trusted.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock::virtio {

struct GuestMemoryRegion {
  uint64_t guest_phys_addr = 0;
  uint64_t memory_size = 0;
  uint64_t userspace_addr = 0;  // QEMU's virtual address of the region
  uint64_t mmap_offset = 0;     // where the region starts in its fd
};

// One mapped region: unmapped on destruction.
class MappedRegion {
 public:
  MappedRegion(GuestMemoryRegion region, uint8_t* base) : region_(region), base_(base) {}
  ~MappedRegion();
  MappedRegion(MappedRegion&& o) noexcept;
  MappedRegion& operator=(MappedRegion&& o) noexcept;
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;

  const GuestMemoryRegion& region() const { return region_; }
  uint8_t* base() const { return base_; }

 private:
  GuestMemoryRegion region_;
  uint8_t* base_ = nullptr;  // start of the region's bytes (the mapping may start earlier)
};

class GuestMemory {
 public:
  // At most this many regions (vhost-user's baseline without CONFIGURE_MEM_SLOTS).
  static constexpr size_t kMaxRegions = 8;

  // Maps every region from its fd (one fd per region, same order). Fails without side effects
  // on any bad region: zero size, overlapping guest ranges, a slice beyond the end of its fd, an
  // fd that is not a memfd sealed against shrinking (F_SEAL_SHRINK: it must never end under a
  // mapping).
  static Result<GuestMemory> map(const std::vector<GuestMemoryRegion>& regions,
                                 std::vector<UniqueFd> fds);

  GuestMemory() = default;
  GuestMemory(GuestMemory&&) noexcept = default;
  GuestMemory& operator=(GuestMemory&&) noexcept = default;

  // Host pointer for [gpa, gpa + len) or null when the range is not wholly inside one region
  // (len 0 is valid inside a region).
  uint8_t* guest_range(uint64_t gpa, uint64_t len) const;
  // The same for QEMU's virtual addresses (the ring addresses of SET_VRING_ADDR).
  uint8_t* qemu_range(uint64_t uaddr, uint64_t len) const;

  bool empty() const { return regions_.empty(); }
  size_t size() const { return regions_.size(); }

 private:
  std::vector<MappedRegion> regions_;
};

}  // namespace matchlock::virtio
