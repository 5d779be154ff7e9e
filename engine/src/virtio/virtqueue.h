// One split virtqueue (virtio 1.x, section 2.7) as a vhost-user backend sees it: the rings live
// in the guest's RAM (GuestMemory), the front-end (QEMU) tells where they are, the guest fills
// the available ring and this side returns buffers through the used ring.
//
// THREAT MODEL: the guest writes the rings while we read them. Every index, address, length,
// flag and next pointer is checked; each descriptor is copied once before use. Readable bytes
// past the pop's inline limit stay in guest memory: the device may only use them as data whose
// value does not matter to it (a WRITE's payload, written to a file as it is). A chain that
// breaks a rule (out-of-range buffer, loop, readable after writable, too large) is returned to
// the guest with length 0; a ring that breaks one (head or available index out of range) stops
// for good. No packed ring, no indirect descriptors, no event index: none is offered.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/unique_fd.h"
#include "virtio/guest_memory.h"

namespace matchlock::virtio {

// QEMU's virtual addresses of the three parts of the ring (SET_VRING_ADDR).
struct VringAddresses {
  uint64_t desc = 0;
  uint64_t avail = 0;
  uint64_t used = 0;
};

// A guest-physical buffer: translated again each time it is used, since the memory table may
// change while a request waits for its reply.
struct GuestBuffer {
  uint64_t addr = 0;
  uint32_t len = 0;
};

struct DescriptorChain {
  uint16_t head = 0;
  std::string readable;                    // the driver's bytes, gathered in order (up to
                                           // the pop's inline limit)
  std::vector<GuestBuffer> readable_rest;  // readable bytes past that limit, left in place
  std::vector<GuestBuffer> writable;       // where the answer goes, in order
  uint64_t writable_bytes = 0;
};

class Virtqueue {
 public:
  static constexpr uint32_t kMaxSize = 1024;  // QEMU's VIRTQUEUE_MAX_SIZE

  enum class Popped {
    kEmpty,     // nothing available (or as many chains in flight as the ring holds)
    kChain,     // a valid chain
    kBadChain,  // a chain that broke a rule: return it with push(head, 0)
    kBroken,    // the ring itself is inconsistent: it is stopped
  };
  struct Pop {
    Popped what = Popped::kEmpty;
    DescriptorChain chain;  // kChain, and the head for kBadChain
    std::string why;        // kBadChain/kBroken
  };

  // Size: a power of two in 1..kMaxSize. False (and unchanged) otherwise.
  bool set_size(uint32_t num);
  void set_addresses(VringAddresses a) { addr_ = a; }
  // The next available index to read (SET_VRING_BASE); also where used entries continue.
  void set_base(uint16_t base);
  uint16_t base() const { return last_avail_; }
  void set_call(UniqueFd fd) { call_ = std::move(fd); }
  uint32_t size() const { return num_; }
  size_t in_flight() const { return in_flight_; }
  bool broken() const { return broken_; }
  // Forgets the chains in flight and clears the broken state (the ring is being restarted).
  void reset_state();

  // Takes the next available chain. `max_readable` bounds the readable bytes of one chain; the
  // first `inline_readable` of them are copied into chain.readable, the rest stay in guest
  // memory (chain.readable_rest) for the device to use in place.
  Pop pop(const GuestMemory& mem, size_t max_readable, size_t inline_readable = SIZE_MAX);
  // Host addresses of `buffers` after their first `skip` bytes; nullopt when one no longer
  // translates (a new memory table). Valid until the memory table changes.
  static std::optional<std::vector<iovec>> map(const GuestMemory& mem,
                                               std::span<const GuestBuffer> buffers,
                                               uint64_t skip = 0);
  // Copies `bytes` into the chain's writable buffers; false (nothing written) when they do not
  // fit or a buffer no longer translates.
  static bool scatter(const GuestMemory& mem, const DescriptorChain& chain, std::string_view bytes);
  // Undoes the last `count` pops, none of them pushed since: their heads are read again by the
  // next pops. False (nothing changes) when more than that many were popped since the last push.
  bool unpop(uint16_t count);
  // Returns chain `head` to the guest with `written` bytes; false if the ring is unusable.
  bool push(const GuestMemory& mem, uint16_t head, uint32_t written);
  struct Used {
    uint16_t head = 0;
    uint32_t written = 0;
  };
  // Returns several chains with one update of the used index, so the guest sees all of them or
  // none (a frame spread over several receive buffers: a driver that saw its first buffer alone
  // would find the others missing). False if the ring is unusable.
  bool push_together(const GuestMemory& mem, std::span<const Used> used);
  // Interrupts the guest (the call eventfd), if it gave one and has not asked for no interrupts
  // (VRING_AVAIL_F_NO_INTERRUPT: a driver that polls the used ring, such as virtio-net under NAPI).
  void notify(const GuestMemory& mem) const;

 private:
  struct Rings {
    uint8_t* desc = nullptr;
    uint8_t* avail = nullptr;
    uint8_t* used = nullptr;
  };
  std::optional<Rings> rings(const GuestMemory& mem) const;
  Pop broken(std::string why);
  Pop walk_chain(const GuestMemory& mem, const Rings& r, uint16_t head, size_t max_readable,
                 size_t inline_readable);

  uint32_t num_ = 0;
  VringAddresses addr_;
  uint16_t last_avail_ = 0;  // next available entry to read
  uint16_t used_idx_ = 0;    // next used entry to write
  size_t in_flight_ = 0;
  uint16_t pops_since_push_ = 0;  // how far unpop() may go back
  bool broken_ = false;
  UniqueFd call_;
};

}  // namespace matchlock::virtio
