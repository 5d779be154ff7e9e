#include "virtio/guest_memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <utility>

namespace matchlock::virtio {
namespace {

// The offset of [addr, addr + len) inside [start, start + size), or -1 when it does not fit.
// Written so no sum can wrap.
bool offset_in(uint64_t start, uint64_t size, uint64_t addr, uint64_t len, uint64_t* offset) {
  if (addr < start) return false;
  uint64_t off = addr - start;
  if (off > size || len > size - off) return false;
  *offset = off;
  return true;
}

size_t page_size() {
  long p = ::sysconf(_SC_PAGESIZE);
  return p > 0 ? static_cast<size_t>(p) : 4096;
}

}  // namespace

MappedRegion::~MappedRegion() {
  if (!base_) return;
  const uint64_t lead = region_.mmap_offset % page_size();
  ::munmap(base_ - lead, region_.memory_size + lead);
}

MappedRegion::MappedRegion(MappedRegion&& o) noexcept
    : region_(o.region_), base_(std::exchange(o.base_, nullptr)) {}

MappedRegion& MappedRegion::operator=(MappedRegion&& o) noexcept {
  if (this != &o) {
    MappedRegion old(std::move(*this));
    region_ = o.region_;
    base_ = std::exchange(o.base_, nullptr);
  }
  return *this;
}

Result<GuestMemory> GuestMemory::map(const std::vector<GuestMemoryRegion>& regions,
                                     std::vector<UniqueFd> fds) {
  if (regions.empty() || regions.size() > kMaxRegions || fds.size() != regions.size()) {
    return invalid_argument("guest memory: " + std::to_string(regions.size()) + " regions, " +
                            std::to_string(fds.size()) + " fds");
  }
  GuestMemory mem;
  for (size_t i = 0; i < regions.size(); ++i) {
    const auto& r = regions[i];
    if (r.memory_size == 0 || r.memory_size > (uint64_t{1} << 46) ||
        r.guest_phys_addr > UINT64_MAX - r.memory_size ||
        r.userspace_addr > UINT64_MAX - r.memory_size ||
        r.mmap_offset > UINT64_MAX - r.memory_size) {
      return invalid_argument("guest memory: region " + std::to_string(i) + " is out of range");
    }
    for (const auto& m : mem.regions_) {
      const auto& o = m.region();
      if (r.guest_phys_addr < o.guest_phys_addr + o.memory_size &&
          o.guest_phys_addr < r.guest_phys_addr + r.memory_size) {
        return invalid_argument("guest memory: regions overlap");
      }
    }
    // The slice must exist in the file, now and later: touching a page past its end is SIGBUS,
    // and a subverted QEMU could shrink the file under our mapping. QEMU's
    // memory-backend-memfd seals its RAM against shrinking (seal=on is its default); anything
    // that could still shrink is refused.
    const int seals = ::fcntl(fds[i].get(), F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
      return invalid_argument("guest memory: region " + std::to_string(i) +
                              " is not a memfd sealed against shrinking");
    }
    struct stat st {};
    if (::fstat(fds[i].get(), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) < r.mmap_offset + r.memory_size) {
      return invalid_argument("guest memory: region " + std::to_string(i) +
                              " lies beyond the end of its file");
    }
    const uint64_t lead = r.mmap_offset % page_size();
    void* p = ::mmap(nullptr, r.memory_size + lead, PROT_READ | PROT_WRITE, MAP_SHARED,
                     fds[i].get(), static_cast<off_t>(r.mmap_offset - lead));
    if (p == MAP_FAILED) return io_error("guest memory: mmap failed");
    mem.regions_.emplace_back(r, static_cast<uint8_t*>(p) + lead);
  }
  return mem;  // the fds close here: the mappings keep the memory
}

uint8_t* GuestMemory::guest_range(uint64_t gpa, uint64_t len) const {
  for (const auto& m : regions_) {
    uint64_t off = 0;
    if (offset_in(m.region().guest_phys_addr, m.region().memory_size, gpa, len, &off)) {
      return m.base() + off;
    }
  }
  return nullptr;
}

uint8_t* GuestMemory::qemu_range(uint64_t uaddr, uint64_t len) const {
  for (const auto& m : regions_) {
    uint64_t off = 0;
    if (offset_in(m.region().userspace_addr, m.region().memory_size, uaddr, len, &off)) {
      return m.base() + off;
    }
  }
  return nullptr;
}

}  // namespace matchlock::virtio
