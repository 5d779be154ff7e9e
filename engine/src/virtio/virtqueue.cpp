#include "virtio/virtqueue.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace matchlock::virtio {
namespace {

// Ring layout (virtio 1.x 2.7): avail = flags, idx, ring[num], used_event (u16 each);
// used = flags, idx (u16), ring[num] of {id, len} (u32 each), avail_event (u16).
constexpr uint64_t kDescSize = 16;
// <linux/virtio_ring.h> does not compile as C++: the descriptor and its flags, little-endian
// (the host is x86-64, like the guest).
struct Descriptor {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};
static_assert(sizeof(Descriptor) == kDescSize);
struct UsedElement {
  uint32_t id;
  uint32_t len;
};
constexpr uint16_t kDescNext = 1;
constexpr uint16_t kDescWrite = 2;
constexpr uint16_t kDescIndirect = 4;
constexpr uint16_t kAvailNoInterrupt = 1;
uint64_t avail_bytes(uint32_t num) {
  return 4 + 2 * uint64_t{num} + 2;
}
uint64_t used_bytes(uint32_t num) {
  return 4 + 8 * uint64_t{num} + 2;
}

// The guest changes the ring indices concurrently: idx reads acquire (the entries it
// published are visible after), our used idx store releases (the entry written before it is).
uint16_t load_acquire_u16(uint8_t* p) {
  return std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).load(std::memory_order_acquire);
}
void store_release_u16(uint8_t* p, uint16_t v) {
  std::atomic_ref<uint16_t>(*reinterpret_cast<uint16_t*>(p)).store(v, std::memory_order_release);
}

bool aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

}  // namespace

bool Virtqueue::set_size(uint32_t num) {
  if (num == 0 || num > kMaxSize || (num & (num - 1)) != 0) return false;
  num_ = num;
  return true;
}

void Virtqueue::set_base(uint16_t base) {
  last_avail_ = base;
  used_idx_ = base;
  pops_since_push_ = 0;
}

void Virtqueue::reset_state() {
  in_flight_ = 0;
  pops_since_push_ = 0;
  broken_ = false;
}

bool Virtqueue::unpop(uint16_t count) {
  if (count > pops_since_push_ || count > in_flight_) return false;
  last_avail_ = static_cast<uint16_t>(last_avail_ - count);
  in_flight_ -= count;
  pops_since_push_ = static_cast<uint16_t>(pops_since_push_ - count);
  return true;
}

std::optional<Virtqueue::Rings> Virtqueue::rings(const GuestMemory& mem) const {
  if (num_ == 0) return std::nullopt;
  Rings r{mem.qemu_range(addr_.desc, kDescSize * num_),
          mem.qemu_range(addr_.avail, avail_bytes(num_)),
          mem.qemu_range(addr_.used, used_bytes(num_))};
  // The alignments virtio requires; atomic access to the indices depends on them.
  if (!r.desc || !r.avail || !r.used || !aligned(r.desc, 16) || !aligned(r.avail, 2) ||
      !aligned(r.used, 4)) {
    return std::nullopt;
  }
  return r;
}

Virtqueue::Pop Virtqueue::broken(std::string why) {
  broken_ = true;
  return Pop{Popped::kBroken, {}, std::move(why)};
}

Virtqueue::Pop Virtqueue::pop(const GuestMemory& mem, size_t max_readable, size_t inline_readable) {
  if (broken_) return Pop{Popped::kBroken, {}, "the ring is stopped"};
  auto r = rings(mem);
  if (!r) return broken("the ring addresses are outside guest memory or misaligned");
  const uint16_t avail_idx = load_acquire_u16(r->avail + 2);
  const uint16_t pending = static_cast<uint16_t>(avail_idx - last_avail_);
  if (pending > num_) return broken("the available index ran more than a ring ahead");
  if (pending == 0 || in_flight_ >= num_) return Pop{};
  uint16_t head = 0;
  std::memcpy(&head, r->avail + 4 + 2 * uint64_t{static_cast<uint16_t>(last_avail_ % num_)}, 2);
  if (head >= num_) return broken("an available head is out of range");
  ++last_avail_;
  ++in_flight_;
  if (pops_since_push_ < 0xffff) ++pops_since_push_;
  return walk_chain(mem, *r, head, max_readable, inline_readable);
}

// Follows `next` from `head`: at most num_ descriptors (so a loop ends), readable ones first,
// each buffer wholly inside guest memory, readable bytes at most `max_readable`.
Virtqueue::Pop Virtqueue::walk_chain(const GuestMemory& mem, const Rings& r, uint16_t head,
                                     size_t max_readable, size_t inline_readable) {
  Pop out;
  out.chain.head = head;
  auto bad = [&out](std::string why) {
    out.what = Popped::kBadChain;
    out.why = std::move(why);
    out.chain.readable.clear();
    out.chain.readable_rest.clear();
    out.chain.writable.clear();
    out.chain.writable_bytes = 0;
    return std::move(out);
  };
  uint64_t readable_bytes = 0;
  uint16_t index = head;
  for (uint32_t count = 0;; ++count) {
    if (count >= num_) return bad("the descriptor chain is longer than the ring (a loop?)");
    if (index >= num_) return bad("a descriptor index is out of range");
    Descriptor d{};
    std::memcpy(&d, r.desc + kDescSize * index, sizeof(d));  // one copy: the guest may change it
    if (d.flags & kDescIndirect) return bad("an indirect descriptor (not offered)");
    if (d.flags & kDescWrite) {
      if (!mem.guest_range(d.addr, d.len)) return bad("a writable buffer is outside guest memory");
      out.chain.writable.push_back({d.addr, d.len});
      out.chain.writable_bytes += d.len;  // at most num_ * 4 GiB: no overflow
    } else {
      if (!out.chain.writable.empty()) return bad("a readable descriptor follows a writable one");
      if (d.len > max_readable - readable_bytes) {
        return bad("the request is larger than " + std::to_string(max_readable) + " bytes");
      }
      readable_bytes += d.len;
      const uint8_t* p = mem.guest_range(d.addr, d.len);
      if (!p) return bad("a readable buffer is outside guest memory");
      size_t copied = std::min<size_t>(d.len, inline_readable - out.chain.readable.size());
      out.chain.readable.append(reinterpret_cast<const char*>(p), copied);
      if (copied < d.len) {
        out.chain.readable_rest.push_back({d.addr + copied, static_cast<uint32_t>(d.len - copied)});
      }
    }
    if (!(d.flags & kDescNext)) break;
    index = d.next;
  }
  out.what = Popped::kChain;
  return out;
}

std::optional<std::vector<iovec>> Virtqueue::map(const GuestMemory& mem,
                                                 std::span<const GuestBuffer> buffers,
                                                 uint64_t skip) {
  std::vector<iovec> out;
  out.reserve(buffers.size());
  for (const auto& b : buffers) {
    uint8_t* p = mem.guest_range(b.addr, b.len);
    if (!p) return std::nullopt;
    if (skip >= b.len) {
      skip -= b.len;
      continue;
    }
    out.push_back(iovec{p + skip, b.len - skip});
    skip = 0;
  }
  return out;
}

bool Virtqueue::scatter(const GuestMemory& mem, const DescriptorChain& chain,
                        std::string_view bytes) {
  if (bytes.size() > chain.writable_bytes) return false;
  auto targets = map(mem, chain.writable);  // all of them first, so a failure writes nothing
  if (!targets) return false;
  size_t at = 0;
  for (const iovec& t : *targets) {
    if (at == bytes.size()) break;
    size_t n = std::min(t.iov_len, bytes.size() - at);
    std::memcpy(t.iov_base, bytes.data() + at, n);
    at += n;
  }
  return true;
}

bool Virtqueue::push(const GuestMemory& mem, uint16_t head, uint32_t written) {
  const Used one{head, written};
  return push_together(mem, std::span<const Used>(&one, 1));
}

bool Virtqueue::push_together(const GuestMemory& mem, std::span<const Used> used) {
  in_flight_ -= std::min(in_flight_, used.size());
  pops_since_push_ = 0;
  if (broken_) return false;
  auto r = rings(mem);
  if (!r) {
    broken_ = true;
    return false;
  }
  for (const Used& u : used) {
    UsedElement e{u.head, u.written};
    std::memcpy(r->used + 4 + 8 * uint64_t{static_cast<uint16_t>(used_idx_ % num_)}, &e, sizeof(e));
    ++used_idx_;
  }
  store_release_u16(r->used + 2, used_idx_);  // the entries written above become visible
  return true;
}

void Virtqueue::notify(const GuestMemory& mem) const {
  if (!call_.valid()) return;
  if (auto r = rings(mem)) {
    // The used index stored before must be visible before the flag is read: a driver clears the
    // flag and then checks the used ring again, so one of the two sides sees the other's write.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (load_acquire_u16(r->avail) & kAvailNoInterrupt) return;
  }
  uint64_t one = 1;
  // An eventfd write fails only when its counter is saturated: the guest is interrupted anyway.
  [[maybe_unused]] ssize_t n = ::write(call_.get(), &one, sizeof(one));
}

}  // namespace matchlock::virtio
