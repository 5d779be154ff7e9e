#include "net/link/virtio_net_link.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "net/stack/outgoing_frames.h"
#include "net/stack/packet_info.h"
#include "virtio/virtqueue.h"

namespace matchlock::net {
namespace {

constexpr uint32_t kReceiveQueue = 0;  // queue 1 transmits: its chains come to on_transmitted

// Feature bits (virtio 1.x 5.1.3).
constexpr uint64_t kGuestCsum = uint64_t{1} << 1;
constexpr uint64_t kMtu = uint64_t{1} << 3;
constexpr uint64_t kGuestTso4 = uint64_t{1} << 7;
constexpr uint64_t kMrgRxbuf = uint64_t{1} << 15;
constexpr uint64_t kOffered = kGuestCsum | kMtu | kGuestTso4 | kMrgRxbuf;

// struct virtio_net_hdr_mrg_rxbuf: a VERSION_1 device always uses this 12-byte form.
constexpr size_t kHeaderBytes = 12;
constexpr uint8_t kDataValid = 2;  // VIRTIO_NET_HDR_F_DATA_VALID
constexpr uint8_t kGsoTcpv4 = 1;   // VIRTIO_NET_HDR_GSO_TCPV4
// A frame for the guest is at most a 64 KiB IPv4 packet with its Ethernet header.
constexpr size_t kMaxFrameBytes = 0xffff + kEthernetHeaderBytes;
// What may wait for receive buffers: a guest that posts none cannot grow the engine further.
constexpr size_t kMaxQueuedBytes = 16 * 1024 * 1024;

void put_le16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v & 0xff);
  p[1] = static_cast<char>(v >> 8);
}

}  // namespace

Result<std::unique_ptr<VirtioNetLink>> VirtioNetLink::open(uv_loop_t* loop, UniqueFd socket,
                                                           size_t max_frame, Events events) {
  std::unique_ptr<VirtioNetLink> link(new VirtioNetLink(max_frame));
  VirtioNetLink* self = link.get();
  self->events_ = std::move(events);
  if (int rc = self->interrupt_idle_.init(loop, self, uv_idle_init); rc != 0) {
    return io_error("net link: " + uv::error_text(rc));
  }
  std::weak_ptr<int> alive = self->alive_;
  virtio::VhostUserDevice device;
  device.name = "virtio-net";
  device.queues = 2;
  device.features = kOffered;
  // A transmitted chain: the header and one frame, copied whole (lwIP takes a copy anyway).
  device.limits = virtio::ChainLimits{kHeaderBytes + max_frame};
  device.on_chain = [self](virtio::ChainRef chain) { self->on_transmitted(std::move(chain)); };
  device.on_demand_queues = uint64_t{1} << kReceiveQueue;
  device.on_available = [self](uint32_t) { self->flush_queue(); };
  device.on_lost = [self, alive](const Error& e) {
    if (!alive.expired()) self->lost(e);
  };
  auto backend = virtio::VhostUserBackend::start(loop, std::move(socket), std::move(device));
  if (!backend.ok()) return backend.error();
  self->backend_ = std::move(backend.value());
  return link;
}

VirtioNetLink::~VirtioNetLink() {
  closed_ = true;
  if (backend_) backend_->close();
}

bool VirtioNetLink::takes_large_tcp_segments() const {
  if (closed_ || !backend_) return false;
  const uint64_t f = backend_->features();
  return (f & kGuestTso4) && (f & kGuestCsum) && (f & kMrgRxbuf);
}

void VirtioNetLink::on_transmitted(virtio::ChainRef chain) {
  // The readable bytes were copied out of guest memory by the backend: the buffer goes back to
  // the guest before lwIP sees the frame (and perhaps answers it at once).
  const std::string& bytes = chain.chain.readable;
  backend_->complete(chain, {}, 0, /*interrupt=*/false);
  if (bytes.size() < kHeaderBytes + kEthernetHeaderBytes || !events_.on_frame) return;
  const size_t len = bytes.size() - kHeaderBytes;
  if (len > max_frame_) return;
  events_.on_frame(reinterpret_cast<const uint8_t*>(bytes.data()) + kHeaderBytes, len);
}

void VirtioNetLink::send(const uint8_t* frame, size_t len, uint16_t tcp_segment_size) {
  if (closed_ || len < kEthernetHeaderBytes || len > kMaxFrameBytes) return;
  if (tcp_segment_size != 0 && !takes_large_tcp_segments()) return;
  if (queued_bytes_ + kHeaderBytes + len > kMaxQueuedBytes) return;  // dropped, as a full NIC would
  std::string bytes(kHeaderBytes + len, '\0');
  char* h = bytes.data();
  const OutgoingFrame f = inspect_outgoing(frame, len);
  // lwIP computed every TCP and UDP checksum it sends: the guest need not check them again.
  // Fragments are left to the guest (their checksum covers the reassembled datagram).
  if ((backend_->features() & kGuestCsum) && f.ipv4 && !f.fragment &&
      (f.proto == kProtoTcp || f.proto == kProtoUdp)) {
    h[0] = static_cast<char>(kDataValid);
  }
  if (tcp_segment_size != 0) {
    if (f.headers_bytes == 0) return;  // not a whole TCP segment: nothing to segment
    h[1] = static_cast<char>(kGsoTcpv4);
    put_le16(h + 2, static_cast<uint16_t>(f.headers_bytes));
    put_le16(h + 4, tcp_segment_size);
  }
  std::memcpy(h + kHeaderBytes, frame, len);
  if (queue_.empty() && deliver(bytes) != Delivery::kNoRoom) return;
  queued_bytes_ += bytes.size();
  queue_.push_back(std::move(bytes));
}

void VirtioNetLink::flush_queue() {
  while (!queue_.empty() && !closed_) {
    if (deliver(queue_.front()) == Delivery::kNoRoom) return;
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
  }
}

// Takes receive buffers until they hold `bytes` (one buffer without MRG_RXBUF), then writes
// and returns them in order, the first one's header saying how many there are.
VirtioNetLink::Delivery VirtioNetLink::deliver(std::string& bytes) {
  const bool mergeable = backend_->features() & kMrgRxbuf;
  std::vector<virtio::ChainRef> usable, empty;
  size_t room = 0;
  while (room < bytes.size()) {
    auto chain = backend_->take(kReceiveQueue);
    if (!chain) break;
    if (chain->chain.writable_bytes == 0) {
      empty.push_back(std::move(*chain));  // nothing to write to: returned as it came
      continue;
    }
    room += chain->chain.writable_bytes;
    usable.push_back(std::move(*chain));
    if (!mergeable) break;
  }
  if (room < bytes.size()) {
    const bool never_fits = !mergeable && !usable.empty();
    if (!never_fits) {
      // Not enough buffers yet: every one taken goes back, untouched, for the next try.
      backend_->give_back(kReceiveQueue, usable.size() + empty.size());
      return Delivery::kNoRoom;
    }
  }
  // Chains without room go back first, so the frame's buffers stay consecutive in the used
  // ring, as MRG_RXBUF requires.
  for (const auto& chain : empty) backend_->complete(chain, {}, 0, /*interrupt=*/false);
  if (room < bytes.size()) {
    // One buffer too small for the frame (no MRG_RXBUF): the frame is dropped.
    for (const auto& chain : usable) backend_->complete(chain, {}, 0, /*interrupt=*/false);
    interrupt_soon();
    return Delivery::kDropped;
  }
  put_le16(bytes.data() + 10, static_cast<uint16_t>(usable.size()));
  std::vector<size_t> placed;
  placed.reserve(usable.size());
  size_t at = 0;
  for (const auto& chain : usable) {
    const size_t n = std::min<size_t>(chain.chain.writable_bytes, bytes.size() - at);
    // A buffer that left guest memory since (a new memory table) goes back empty.
    const bool copied = virtio::Virtqueue::scatter(backend_->memory(), chain.chain,
                                                   std::string_view(bytes).substr(at, n));
    placed.push_back(copied ? n : 0);
    at += n;
  }
  // All at once: a driver that saw the first buffer alone would drop the frame.
  backend_->complete_together(usable, placed, /*interrupt=*/false);
  interrupt_soon();
  return Delivery::kDelivered;
}

// One interrupt per loop pass for everything delivered in it (an idle handle also keeps the
// loop from waiting before it runs).
void VirtioNetLink::interrupt_soon() {
  uv_idle_start(interrupt_idle_.get(), [](uv_idle_t* h) {
    uv_idle_stop(h);
    auto* self = static_cast<VirtioNetLink*>(h->data);
    if (self && !self->closed_) self->backend_->interrupt(kReceiveQueue);
  });
}

void VirtioNetLink::lost(const Error& e) {
  if (closed_) return;
  closed_ = true;
  queue_.clear();
  queued_bytes_ = 0;
  auto cb = events_.on_closed;
  if (cb) cb(e);
}

}  // namespace matchlock::net
