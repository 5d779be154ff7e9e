// The split virtqueue (engine/src/vfs/virtqueue.cpp) over guest RAM the guest writes at will:
// the descriptor table, the available ring and the buffers are its bytes, and the ring
// addresses are QEMU's (which the guest may have subverted). Guest RAM is a sealed memfd in two
// regions with a gap between them, mapped through GuestMemory as the virtio-fs back-end maps it.
//
// Input: a header (ring size, base, readable and inline limits, where the rings lie), then
// operations: the guest writing bytes into its RAM, the back-end popping a chain and completing
// it at once or later, QEMU restarting the ring.
// Invariants: every pop agrees with a reference walk written here from the virtio rules (same
// verdict, head, readable bytes (those past the inline limit read in place) and writable
// buffers); a stopped ring stays stopped until reset;
// never more chains in flight than the ring holds; a reply is scattered in order into the
// writable buffers or, when it does not fit, nothing is written; each push writes exactly one
// used entry and advances the used index by one.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "vfs/io_vectors.h"
#include "virtio/guest_memory.h"
#include "virtio/virtqueue.h"

namespace virtio = matchlock::virtio;
namespace vfs = matchlock::vfs;
using matchlock::fuzz::InputReader;
using Popped = virtio::Virtqueue::Popped;

namespace {

// Guest RAM: one 64 KiB file, two 32 KiB regions with a gap between them, so a buffer that
// straddles the gap (or any end) must be refused.
constexpr uint64_t kFileSize = 64 * 1024;
constexpr uint64_t kRegionSize = 32 * 1024;
struct Region {
  uint64_t gpa, uaddr, file_offset;
};
constexpr Region kRegions[] = {{0x1000, 0x7f0000000000, 0}, {0x10000, 0x7f0000100000, kRegionSize}};

// The harness's own view of the file (the "guest" side) and the back-end's GuestMemory of it.
struct Ram {
  uint8_t* view = nullptr;
  virtio::GuestMemory mem;
};

const Ram& ram() {
  static const Ram r = [] {
    matchlock::UniqueFd fd(::memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    FUZZ_CHECK(fd.valid() && ::ftruncate(fd.get(), kFileSize) == 0);
    FUZZ_CHECK(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
    void* view = ::mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    FUZZ_CHECK(view != MAP_FAILED);
    std::vector<virtio::GuestMemoryRegion> regions;
    std::vector<matchlock::UniqueFd> fds;
    for (const Region& g : kRegions) {
      regions.push_back({g.gpa, kRegionSize, g.uaddr, g.file_offset});
      fds.emplace_back(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0));
    }
    auto mem = virtio::GuestMemory::map(regions, std::move(fds));
    FUZZ_CHECK(mem.ok());
    // Guard pages around the back-end's mappings where the address space is free, so a read
    // just past a region faults instead of landing in some other mapping.
    const long page = ::sysconf(_SC_PAGESIZE);
    for (const Region& g : kRegions) {
      uint8_t* base = mem->guest_range(g.gpa, 0);
      for (uint8_t* at : {base - page, base + kRegionSize}) {
        (void)::mmap(at, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      }
    }
    return Ram{static_cast<uint8_t*>(view), std::move(mem.value())};
  }();
  return r;
}

// File offset of [addr, addr + len) when it lies wholly inside one region, by guest-physical
// (descriptors) or QEMU virtual (ring) addresses.
std::optional<uint64_t> file_offset(uint64_t addr, uint64_t len, bool qemu_address) {
  for (const Region& g : kRegions) {
    const uint64_t start = qemu_address ? g.uaddr : g.gpa;
    if (addr >= start && addr - start <= kRegionSize && len <= kRegionSize - (addr - start)) {
      return g.file_offset + (addr - start);
    }
  }
  return std::nullopt;
}

struct Chain {
  std::string readable;
  std::vector<virtio::GuestBuffer> writable;
};

class Harness {
 public:
  explicit Harness(InputReader& in) : in_(in), r_(ram()) {
    std::memset(r_.view, 0, kFileSize);
    num_ = 1u << (in_.u8() % 11);  // 1..1024
    FUZZ_CHECK(vq_.set_size(num_));
    max_readable_ = size_t{1} << (in_.u8() % 17);
    restart(in_.u16());
    // Readable bytes copied at pop (odd byte: all of them; even: the first 0..127).
    const uint8_t inline_mode = in_.u8();
    inline_readable_ = (inline_mode & 1) ? SIZE_MAX : inline_mode / 2;
    // The rings one after another at the start of the first region, aligned as virtio wants,
    // or (odd mode byte) wherever the input says, in range or not, aligned or not.
    const uint64_t desc = kRegions[0].uaddr;
    const uint64_t avail = desc + 16 * num_;
    const uint64_t used = (avail + 6 + 2 * num_ + 3) & ~uint64_t{3};
    virtio::VringAddresses a{desc, avail, used};
    if (in_.u8() & 1) {
      a = {desc + static_cast<int32_t>(in_.u32()), desc + static_cast<int32_t>(in_.u32()),
           desc + static_cast<int32_t>(in_.u32())};
    }
    vq_.set_addresses(a);
    addr_ = a;
  }

  void run() {
    for (int step = 0; step < 4096 && !in_.empty(); ++step) {
      switch (in_.u8() % 6) {
        case 0: {  // the back-end pops a chain and answers it at once
          auto p = pop();
          if (p) complete(*p, in_.u16());
          break;
        }
        case 1: {  // ... or keeps it for later
          auto p = pop();
          if (p) held_.push_back(*p);
          break;
        }
        case 2:  // a kept chain is answered
          if (!held_.empty()) {
            auto p = std::move(held_.front());
            held_.pop_front();
            complete(p, in_.u16());
          }
          break;
        case 3:
        case 4: {  // the guest writes its RAM (descriptors, rings, buffers)
          const uint64_t offset = in_.u16() % kFileSize;
          const size_t len = std::min<uint64_t>(in_.u8() % 33, kFileSize - offset);
          for (size_t i = 0; i < len; ++i) r_.view[offset + i] = in_.u8();
          break;
        }
        case 5:  // QEMU stops and restarts the ring at a base of its choice
          restart(in_.u16());
          break;
      }
      FUZZ_CHECK(vq_.in_flight() <= num_);
    }
  }

 private:
  struct Taken {
    uint16_t head;
    bool good;
    Chain chain;
    uint64_t writable_bytes;
  };

  void restart(uint16_t base) {
    vq_.set_base(base);
    vq_.reset_state();
    next_avail_ = base;
    used_idx_ = base;
    held_.clear();
  }

  uint16_t read_u16(uint64_t offset) const {
    uint16_t v;
    std::memcpy(&v, r_.view + offset, 2);
    return v;
  }

  // What virtio says the next pop is: the rings' placement, the available index, the head.
  enum class Expect { kEmpty, kChain, kBroken };
  Expect expected_ring_state(uint16_t* head) const {
    const auto desc = file_offset(addr_.desc, 16 * uint64_t{num_}, true);
    const auto avail = file_offset(addr_.avail, 6 + 2 * uint64_t{num_}, true);
    const auto used = file_offset(addr_.used, 6 + 8 * uint64_t{num_}, true);
    if (!desc || !avail || !used || *desc % 16 || *avail % 2 || *used % 4) return Expect::kBroken;
    const uint16_t pending = static_cast<uint16_t>(read_u16(*avail + 2) - next_avail_);
    if (pending > num_) return Expect::kBroken;
    if (pending == 0 || vq_.in_flight() >= num_) return Expect::kEmpty;
    *head = read_u16(*avail + 4 + 2 * (next_avail_ % num_));
    return *head >= num_ ? Expect::kBroken : Expect::kChain;
  }

  // The chain from `head` by the rules of virtqueue.h, or nullopt when it breaks one.
  std::optional<Chain> reference_walk(uint16_t head) const {
    const uint64_t desc = *file_offset(addr_.desc, 16 * uint64_t{num_}, true);
    Chain c;
    uint16_t index = head;
    for (uint32_t count = 0; count < num_; ++count) {
      if (index >= num_) return std::nullopt;
      uint64_t addr;
      uint32_t len;
      uint16_t flags, next;
      const uint8_t* d = r_.view + desc + 16 * uint64_t{index};
      std::memcpy(&addr, d, 8);
      std::memcpy(&len, d + 8, 4);
      std::memcpy(&flags, d + 12, 2);
      std::memcpy(&next, d + 14, 2);
      const auto at = file_offset(addr, len, false);
      if ((flags & 4) || !at) return std::nullopt;  // indirect, or outside guest RAM
      if (flags & 2) {
        c.writable.push_back({addr, len});
      } else {
        if (!c.writable.empty() || c.readable.size() + len > max_readable_) return std::nullopt;
        c.readable.append(reinterpret_cast<const char*>(r_.view + *at), len);
      }
      if (!(flags & 1)) return c;
      index = next;
    }
    return std::nullopt;  // longer than the ring: a loop
  }

  std::optional<Taken> pop() {
    const bool was_broken = vq_.broken();
    const size_t in_flight = vq_.in_flight();
    uint16_t head = 0;
    const Expect expect = was_broken ? Expect::kBroken : expected_ring_state(&head);
    const auto ref = expect == Expect::kChain ? reference_walk(head) : std::nullopt;

    auto p = vq_.pop(r_.mem, max_readable_, inline_readable_);
    switch (expect) {
      case Expect::kBroken:
        FUZZ_CHECK(p.what == Popped::kBroken && vq_.broken());
        FUZZ_CHECK(vq_.in_flight() == in_flight);
        return std::nullopt;
      case Expect::kEmpty:
        FUZZ_CHECK(p.what == Popped::kEmpty && vq_.in_flight() == in_flight);
        return std::nullopt;
      case Expect::kChain:
        break;
    }
    FUZZ_CHECK(p.what == (ref ? Popped::kChain : Popped::kBadChain));
    FUZZ_CHECK(p.chain.head == head && vq_.in_flight() == in_flight + 1);
    ++next_avail_;
    if (!ref) {
      FUZZ_CHECK(p.chain.readable.empty() && p.chain.writable.empty());
      FUZZ_CHECK(p.chain.readable_rest.empty());
      FUZZ_CHECK(p.chain.writable_bytes == 0 && !p.why.empty());
      return Taken{head, false, {}, 0};
    }
    // The first inline_readable_ bytes copied, the rest in place: together the reference's.
    const size_t copied = std::min(inline_readable_, ref->readable.size());
    FUZZ_CHECK(p.chain.readable == ref->readable.substr(0, copied));
    auto rest = virtio::Virtqueue::map(r_.mem, p.chain.readable_rest);
    FUZZ_CHECK(rest.has_value());
    FUZZ_CHECK(vfs::gather(*rest) == ref->readable.substr(copied));
    FUZZ_CHECK(p.chain.writable.size() == ref->writable.size());
    uint64_t total = 0;
    for (size_t i = 0; i < ref->writable.size(); ++i) {
      FUZZ_CHECK(p.chain.writable[i].addr == ref->writable[i].addr);
      FUZZ_CHECK(p.chain.writable[i].len == ref->writable[i].len);
      total += ref->writable[i].len;
    }
    FUZZ_CHECK(p.chain.writable_bytes == total);
    return Taken{head, true, std::move(*ref), total};
  }

  // Scatters a reply of `size` bytes (bounded by the chain, plus one to try "too large"), then
  // returns the chain; a bad chain goes back empty.
  void complete(const Taken& p, uint16_t size) {
    uint32_t written = 0;
    if (p.good) {
      const uint64_t len = size % (std::min<uint64_t>(p.writable_bytes, 4096) + 2);
      std::string reply(len, '\0');
      for (size_t i = 0; i < len; ++i) reply[i] = static_cast<char>('a' + i % 23);
      virtio::DescriptorChain chain;
      chain.head = p.head;
      chain.writable = p.chain.writable;
      chain.writable_bytes = p.writable_bytes;
      const bool fits = len <= p.writable_bytes;
      std::string before;
      if (!fits) before.assign(reinterpret_cast<const char*>(r_.view), kFileSize);
      FUZZ_CHECK(virtio::Virtqueue::scatter(r_.mem, chain, reply) == fits);
      if (!fits) {
        FUZZ_CHECK(std::memcmp(before.data(), r_.view, kFileSize) == 0);
      } else {
        check_scattered(p.chain.writable, reply);
        written = static_cast<uint32_t>(len);
      }
    }
    const bool was_broken = vq_.broken();
    const size_t in_flight = vq_.in_flight();
    const bool pushed = vq_.push(r_.mem, p.head, written);
    FUZZ_CHECK(vq_.in_flight() == (in_flight ? in_flight - 1 : 0));
    if (was_broken) {
      FUZZ_CHECK(!pushed);
      return;
    }
    FUZZ_CHECK(pushed);  // the rings were valid when this chain was popped and have not moved
    const uint64_t used = *file_offset(addr_.used, 6 + 8 * uint64_t{num_}, true);
    uint32_t entry[2];
    std::memcpy(entry, r_.view + used + 4 + 8 * uint64_t{static_cast<uint16_t>(used_idx_ % num_)},
                8);
    ++used_idx_;
    FUZZ_CHECK(read_u16(used + 2) == used_idx_);
    FUZZ_CHECK(entry[0] == p.head && entry[1] == written);
  }

  // The reply lies in the writable buffers in order. Buffers that overlap each other are only
  // checked for the last one written (earlier ones may be overwritten, as on real hardware).
  void check_scattered(const std::vector<virtio::GuestBuffer>& buffers, const std::string& reply) {
    std::vector<std::pair<uint64_t, uint64_t>> spans;  // file offsets, for the overlap test
    for (const auto& b : buffers) {
      spans.emplace_back(*file_offset(b.addr, b.len, false), b.len);
    }
    auto sorted = spans;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 1; i < sorted.size(); ++i) {
      if (sorted[i - 1].first + sorted[i - 1].second > sorted[i].first) return;
    }
    size_t at = 0;
    for (const auto& [offset, len] : spans) {
      if (at >= reply.size()) break;
      const size_t n = std::min<size_t>(len, reply.size() - at);
      FUZZ_CHECK(std::memcmp(r_.view + offset, reply.data() + at, n) == 0);
      at += n;
    }
    FUZZ_CHECK(at == reply.size());
  }

  InputReader& in_;
  const Ram& r_;
  virtio::Virtqueue vq_;
  virtio::VringAddresses addr_;
  uint32_t num_ = 0;
  size_t max_readable_ = 0;
  size_t inline_readable_ = SIZE_MAX;
  uint16_t next_avail_ = 0;
  uint16_t used_idx_ = 0;
  std::deque<Taken> held_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  InputReader in(data, size);
  Harness h(in);
  h.run();
  return 0;
}
