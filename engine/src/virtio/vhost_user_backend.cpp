// Message loop and ring plumbing of the vhost-user backend. Messages are read one at a time
// with exact sizes (header, then payload), so the descriptors that arrive belong to the message
// being read; at most kMaxFds per message. Replies are small and QEMU waits for them: a full
// socket (EAGAIN) means a front-end that does not read, and ends the channel.
// Device state (migration) goes over a pipe QEMU sends; see set_device_state_fd().
#include "virtio/vhost_user_backend.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/log.h"
#include "core/uv.h"

namespace matchlock::virtio {
namespace {

// Requests (vhost-user specification).
enum Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kResetOwner = 4,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetLogFd = 7,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kSetVringErr = 14,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
  kSetBackendReqFd = 21,
  kGetConfig = 24,
  kSetDeviceStateFd = 42,
  kCheckDeviceState = 43,
};

constexpr uint32_t kVersion = 0x1;
constexpr uint32_t kFlagReply = 1u << 2;
constexpr uint32_t kFlagNeedReply = 1u << 3;
constexpr size_t kHeaderSize = 12;
constexpr size_t kMaxPayload = 4096;
constexpr size_t kMaxFds = GuestMemory::kMaxRegions;
constexpr uint64_t kVringNoFd = 1u << 8;
constexpr uint64_t kVringIndexMask = 0xff;

constexpr uint64_t kFeatureVersion1 = uint64_t{1} << 32;
constexpr uint64_t kFeatureProtocolFeatures = uint64_t{1} << 30;
constexpr uint64_t kFeatureLogAll = uint64_t{1} << 26;
constexpr uint64_t kTransportFeatures =
    kFeatureVersion1 | kFeatureProtocolFeatures | kFeatureLogAll;
// Device feature bits live below 24 (virtio 1.x 6): a device cannot claim a transport bit.
constexpr uint64_t kDeviceFeatureMask = (uint64_t{1} << 24) - 1;
constexpr uint64_t kProtocolMq = uint64_t{1} << 0;
constexpr uint64_t kProtocolLogShmfd = uint64_t{1} << 1;
constexpr uint64_t kProtocolReplyAck = uint64_t{1} << 3;
constexpr uint64_t kProtocolDeviceState = uint64_t{1} << 19;

// SET_DEVICE_STATE_FD: the transfer's direction and phase, and the reply's "invalid FD" flag
// (set: no fd comes back, QEMU keeps using the one it sent).
constexpr uint32_t kTransferSave = 0;
constexpr uint32_t kTransferLoad = 1;
constexpr uint32_t kPhaseStopped = 0;
constexpr uint64_t kDeviceStateNoFd = uint64_t{1} << 8;

struct DeviceStateTransfer {
  uint32_t direction;
  uint32_t phase;
};
struct Header {
  uint32_t request;
  uint32_t flags;
  uint32_t size;
};
struct VringState {
  uint32_t index;
  uint32_t num;
};
struct VringAddr {
  uint32_t index;
  uint32_t flags;
  uint64_t desc_user_addr;
  uint64_t used_user_addr;
  uint64_t avail_user_addr;
  uint64_t log_guest_addr;
};
struct MemoryRegionWire {
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t mmap_offset;
};

class Backend : public VhostUserBackend {
 public:
  Backend(uv_loop_t* loop, VhostUserDevice device)
      : loop_(loop),
        name_(std::move(device.name)),
        queues_(device.queues),
        limits_(device.limits),
        on_chain_(std::move(device.on_chain)),
        on_demand_queues_(device.on_demand_queues),
        on_available_(std::move(device.on_available)),
        on_lost_(std::move(device.on_lost)),
        device_state_(std::move(device.device_state)),
        offered_features_(kTransportFeatures | (device.features & kDeviceFeatureMask)),
        offered_protocol_(kProtocolMq | kProtocolReplyAck | kProtocolLogShmfd |
                          (device_state_.save && device_state_.load ? kProtocolDeviceState : 0)) {}
  ~Backend() override { close(); }

  int start(UniqueFd socket) {
    socket_ = std::move(socket);
    if (int rc = poll_.init(loop_, this, uv_poll_init, socket_.get()); rc != 0) return rc;
    return uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
      auto* self = static_cast<Backend*>(h->data);
      if (self) self->on_readable(status);
    });
  }

  bool complete(const ChainRef& ref, std::string_view reply, size_t placed,
                bool interrupt) override {
    if (closed_ || ref.queue >= queues_.size()) return true;
    auto& q = queues_[ref.queue];
    if (ref.generation != q.generation) return true;  // stopped since: the chain is gone
    if (placed > ref.chain.writable_bytes || reply.size() > ref.chain.writable_bytes - placed) {
      return false;
    }
    uint64_t written = reply.size() + placed;
    if (!reply.empty() && !Virtqueue::scatter(mem_, ref.chain, reply)) {
      written = 0;  // a buffer left guest memory (a new table): return the chain empty
    }
    if (!q.vq.push(mem_, ref.chain.head, static_cast<uint32_t>(written))) {
      warn_once(q, "the used ring is outside guest memory");
      return true;
    }
    returned(q, interrupt);
    return true;
  }

  void complete_together(std::span<const ChainRef> chains, std::span<const size_t> placed,
                         bool interrupt) override {
    if (closed_ || chains.empty() || chains.size() != placed.size()) return;
    const uint32_t index = chains.front().queue;
    if (index >= queues_.size()) return;
    auto& q = queues_[index];
    std::vector<Virtqueue::Used> used;
    used.reserve(chains.size());
    for (size_t i = 0; i < chains.size(); ++i) {
      const ChainRef& ref = chains[i];
      if (ref.queue != index || ref.generation != q.generation) continue;  // stopped since
      const size_t n = placed[i] <= ref.chain.writable_bytes ? placed[i] : 0;
      used.push_back({ref.chain.head, static_cast<uint32_t>(n)});
    }
    if (used.empty()) return;
    if (!q.vq.push_together(mem_, used)) {
      warn_once(q, "the used ring is outside guest memory");
      return;
    }
    returned(q, interrupt);
  }

  std::optional<ChainRef> take(uint32_t index) override {
    if (!ready(index) || !on_demand(index)) return std::nullopt;
    auto& q = queues_[index];
    while (true) {
      auto popped = q.vq.pop(mem_, limits_.max_readable, limits_.inline_readable);
      switch (popped.what) {
        case Virtqueue::Popped::kEmpty:
          return std::nullopt;
        case Virtqueue::Popped::kBroken:
          warn_once(q, popped.why);
          return std::nullopt;
        case Virtqueue::Popped::kBadChain:
          // Handed over without buffers (the device returns it empty), not pushed here: the
          // device may still give back what it took before it.
          warn_once(q, popped.why);
          return ChainRef{index, q.generation, std::move(popped.chain)};
        case Virtqueue::Popped::kChain:
          return ChainRef{index, q.generation, std::move(popped.chain)};
      }
    }
  }

  bool give_back(uint32_t index, size_t count) override {
    if (closed_ || index >= queues_.size() || !on_demand(index) || count > 0xffff) return false;
    return queues_[index].vq.unpop(static_cast<uint16_t>(count));
  }

  void interrupt(uint32_t index) override {
    if (closed_ || index >= queues_.size()) return;
    auto& q = queues_[index];
    if (!q.notify_pending) return;
    q.notify_pending = false;
    q.vq.notify(mem_);
  }

  uint64_t features() const override { return features_ & kDeviceFeatureMask; }

  const GuestMemory& memory() const override { return mem_; }

  void close() override {
    if (closed_) return;
    closed_ = true;
    poll_.close();
    end_load_channel();
    for (auto& q : queues_) stop_ring(q);
    socket_.reset();
    mem_ = GuestMemory();
  }

 private:
  struct Queue {
    Virtqueue vq;
    UniqueFd kick;
    uv::Handle<uv_poll_t> kick_poll;
    uint64_t generation = 0;
    bool enabled = false;
    bool has_addresses = false;
    bool warned = false;
    bool notify_pending = false;
    Backend* owner = nullptr;  // for the kick callback
    uint32_t index = 0;
  };

  // --- socket -------------------------------------------------------------------------------

  void on_readable(int status) {
    if (status < 0) return fail("vhost-user socket: " + uv::error_text(status));
    std::weak_ptr<int> alive = alive_;
    // A bounded number of messages per wakeup, so one busy front-end cannot starve the loop.
    for (int i = 0; i < 64 && !closed_; ++i) {
      const size_t want = in_.size() < kHeaderSize ? kHeaderSize - in_.size()
                                                   : kHeaderSize + header().size - in_.size();
      if (!read_some(want)) return;
      if (in_.size() == kHeaderSize) {
        if (header().size > kMaxPayload) {
          return fail("vhost-user: a message of " + std::to_string(header().size) + " bytes");
        }
        if ((header().flags & 0x3) != kVersion) return fail("vhost-user: unknown version");
      }
      if (in_.size() >= kHeaderSize && in_.size() == kHeaderSize + header().size) {
        Header h = header();
        std::string payload = in_.substr(kHeaderSize);
        std::vector<UniqueFd> fds = std::move(fds_);
        in_.clear();
        fds_.clear();
        handle_message(h, payload, std::move(fds));
        if (alive.expired()) return;
      }
    }
  }

  Header header() const {
    Header h{};
    std::memcpy(&h, in_.data(), sizeof(h));
    return h;
  }

  // Reads up to `want` bytes and the descriptors sent with them; false when nothing more is
  // there now (or the channel failed).
  bool read_some(size_t want) {
    char buf[kHeaderSize + kMaxPayload];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)];
    iovec iov{buf, want};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(socket_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
    if (n < 0) {
      fail(std::string("vhost-user socket: ") + std::strerror(errno));
      return false;
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        fds_.emplace_back(fd);  // owned (closed) even if we refuse them below
      }
    }
    if (msg.msg_flags & MSG_CTRUNC || fds_.size() > kMaxFds) {
      fail("vhost-user: too many file descriptors with one message");
      return false;
    }
    if (n == 0) {
      fail("vhost-user channel closed", ErrorCode::kCancelled);
      return false;
    }
    in_.append(buf, static_cast<size_t>(n));
    return true;
  }

  void send_reply(const Header& req, const void* payload, uint32_t size) {
    Header h{req.request, kVersion | kFlagReply, size};
    std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
    out.append(static_cast<const char*>(payload), size);
    size_t at = 0;
    while (at < out.size()) {
      ssize_t n =
          ::send(socket_.get(), out.data() + at, out.size() - at, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return fail("vhost-user: the front-end does not take replies");
      at += static_cast<size_t>(n);
    }
  }
  void reply_u64(const Header& req, uint64_t value) { send_reply(req, &value, sizeof(value)); }

  // --- requests ----------------------------------------------------------------------------

  // One dispatch over every request; each case is a few lines, so it stays in one place.
  void handle_message(const Header& h, const std::string& p, std::vector<UniqueFd> fds) {
    bool ok = true;  // the REPLY_ACK status
    bool replied = false;
    auto u64 = [&](uint64_t* v) {
      if (p.size() < sizeof(*v)) return false;
      std::memcpy(v, p.data(), sizeof(*v));
      return true;
    };
    auto state = [&](VringState* s) {
      if (p.size() < sizeof(*s)) return false;
      std::memcpy(s, p.data(), sizeof(*s));
      return s->index < queues_.size();
    };
    switch (h.request) {
      case kGetFeatures:
        reply_u64(h, offered_features_);
        replied = true;
        break;
      case kSetFeatures: {
        uint64_t v = 0;
        ok = u64(&v);
        if (ok && (v & kFeatureLogAll)) {
          if (!refuse_logging(h, "SET_FEATURES with VHOST_F_LOG_ALL")) return;
          ok = false;
          break;
        }
        features_ = v & offered_features_;
        // Without protocol features, rings are enabled from the start (vhost-user spec).
        if (!(features_ & kFeatureProtocolFeatures)) {
          for (auto& q : queues_) q.enabled = true;
        }
        break;
      }
      case kGetProtocolFeatures:
        reply_u64(h, offered_protocol_);
        replied = true;
        break;
      case kSetProtocolFeatures: {
        uint64_t v = 0;
        ok = u64(&v);
        protocol_ = v & offered_protocol_;
        break;
      }
      case kGetQueueNum:
        reply_u64(h, queues_.size());
        replied = true;
        break;
      case kSetOwner:
        break;
      case kResetOwner:
        for (auto& q : queues_) stop_ring(q);
        break;
      case kSetMemTable:
        ok = set_mem_table(p, std::move(fds));
        break;
      case kSetVringNum: {
        VringState s{};
        ok = state(&s) && queues_[s.index].vq.set_size(s.num);
        break;
      }
      case kSetVringAddr:
        ok = set_vring_addr(p);
        break;
      case kSetVringBase: {
        VringState s{};
        ok = state(&s) && s.num <= 0xffff;
        if (ok) queues_[s.index].vq.set_base(static_cast<uint16_t>(s.num));
        break;
      }
      case kGetVringBase: {
        VringState s{};
        if (!state(&s)) return fail("vhost-user: GET_VRING_BASE for a queue that does not exist");
        auto& q = queues_[s.index];
        stop_ring(q);
        VringState out{s.index, q.vq.base()};
        send_reply(h, &out, sizeof(out));
        replied = true;
        break;
      }
      case kSetVringKick:
      case kSetVringCall:
      case kSetVringErr:
        ok = set_vring_fd(h.request, p, std::move(fds));
        break;
      case kSetVringEnable: {
        VringState s{};
        ok = state(&s);
        if (ok) {
          queues_[s.index].enabled = s.num != 0;
          if (s.num) process(s.index);
        }
        break;
      }
      case kSetLogBase:
      case kSetLogFd:
        if (!refuse_logging(h, h.request == kSetLogBase ? "SET_LOG_BASE" : "SET_LOG_FD")) return;
        ok = false;
        break;
      case kSetDeviceStateFd:
        // Success or not, no fd comes back: the transfer uses QEMU's own pipe.
        reply_u64(h, kDeviceStateNoFd | (set_device_state_fd(p, std::move(fds)) ? 0 : 1));
        replied = true;
        break;
      case kCheckDeviceState:
        reply_u64(h, check_device_state() ? 0 : 1);
        replied = true;
        break;
      case kSetBackendReqFd:
        break;  // never used: no backend-initiated requests are offered
      case kGetConfig:
        send_reply(h, nullptr, 0);  // no config space here: an empty reply is an error to QEMU
        replied = true;
        break;
      default:
        ok = false;
        log::debug("vhost-user: request " + std::to_string(h.request) + " is not supported");
        break;
    }
    if (closed_) return;
    if (!replied && (h.flags & kFlagNeedReply) && (protocol_ & kProtocolReplyAck)) {
      reply_u64(h, ok ? 0 : 1);
    }
  }

  bool set_mem_table(const std::string& p, std::vector<UniqueFd> fds) {
    uint32_t count = 0;
    if (p.size() < 8) return false;
    std::memcpy(&count, p.data(), sizeof(count));
    if (count == 0 || count > GuestMemory::kMaxRegions ||
        p.size() < 8 + count * sizeof(MemoryRegionWire) || fds.size() != count) {
      log::warn("vhost-user: a malformed memory table");
      return false;
    }
    std::vector<GuestMemoryRegion> regions;
    for (uint32_t i = 0; i < count; ++i) {
      MemoryRegionWire w{};
      std::memcpy(&w, p.data() + 8 + i * sizeof(w), sizeof(w));
      regions.push_back({w.guest_phys_addr, w.memory_size, w.userspace_addr, w.mmap_offset});
    }
    auto mem = GuestMemory::map(regions, std::move(fds));
    if (!mem.ok()) {
      log::warn("vhost-user: " + mem.error().message);
      return false;
    }
    mem_ = std::move(mem.value());  // the old table unmaps here
    for (uint32_t i = 0; i < queues_.size(); ++i) process(i);
    return true;
  }

  bool set_vring_addr(const std::string& p) {
    VringAddr a{};
    if (p.size() < sizeof(a)) return false;
    std::memcpy(&a, p.data(), sizeof(a));
    if (a.index >= queues_.size()) return false;
    auto& q = queues_[a.index];
    q.vq.set_addresses({a.desc_user_addr, a.avail_user_addr, a.used_user_addr});
    q.has_addresses = true;
    return true;
  }

  bool set_vring_fd(uint32_t request, const std::string& p, std::vector<UniqueFd> fds) {
    uint64_t v = 0;
    if (p.size() < sizeof(v)) return false;
    std::memcpy(&v, p.data(), sizeof(v));
    const uint64_t index = v & kVringIndexMask;
    const bool no_fd = v & kVringNoFd;
    if (index >= queues_.size() || fds.size() != (no_fd ? 0u : 1u)) return false;
    auto& q = queues_[index];
    UniqueFd fd = no_fd ? UniqueFd() : std::move(fds[0]);
    if (request == kSetVringCall) {
      q.vq.set_call(std::move(fd));
      return true;
    }
    if (request == kSetVringErr) return true;  // never signalled: the fd just closes
    // Kick: without an fd the ring would have to be polled, which is not offered.
    if (no_fd) return false;
    q.kick_poll.close();
    q.kick = std::move(fd);
    // Read only when readable, but a spurious wakeup must not block the loop.
    if (::fcntl(q.kick.get(), F_SETFL, ::fcntl(q.kick.get(), F_GETFL) | O_NONBLOCK) != 0) {
      return false;
    }
    q.generation++;
    q.vq.reset_state();
    q.warned = false;
    if (q.kick_poll.init(loop_, this, uv_poll_init, q.kick.get()) != 0) return false;
    q.kick_poll.get()->data = &q;
    q.owner = this;
    q.index = static_cast<uint32_t>(index);
    int rc = uv_poll_start(q.kick_poll.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
      auto* queue = static_cast<Queue*>(h->data);
      if (!queue) return;
      uint64_t count = 0;  // the eventfd's counter: reading it re-arms the kick
      [[maybe_unused]] ssize_t n = ::read(queue->kick.get(), &count, sizeof(count));
      queue->owner->process(queue->index);
    });
    if (rc != 0) return false;
    process(q.index);
    return true;
  }

  void stop_ring(Queue& q) {
    q.kick_poll.close();
    q.kick.reset();
    q.generation++;
    q.vq.reset_state();
  }

  // --- dirty logging and device state ------------------------------------------------------

  // QEMU asks us to log our writes to guest memory, which we never do (only a stopped guest is
  // saved). Pretending would let a running guest's save miss pages we wrote, so: a nack when
  // QEMU waits for one, otherwise the channel ends. False when the channel has ended (the
  // caller returns at once: on_lost may have destroyed us).
  bool refuse_logging(const Header& h, const char* what) {
    const std::string why = std::string("vhost-user: QEMU requested dirty logging (") + what +
                            "), which this back-end does not do; only a stopped guest can be saved";
    log::warn(why);
    if ((h.flags & kFlagNeedReply) && (protocol_ & kProtocolReplyAck)) return true;
    fail(why);
    return false;
  }

  // SET_DEVICE_STATE_FD: starts a save or a load over the pipe QEMU sent. False (an error
  // reply) when it cannot start; a save is complete when this returns true.
  bool set_device_state_fd(const std::string& p, std::vector<UniqueFd> fds) {
    end_load_channel();  // a new transfer replaces an unfinished one
    DeviceStateTransfer t{};
    if (!(protocol_ & kProtocolDeviceState) || p.size() < sizeof(t) || fds.size() != 1) {
      return transfer_failed("a malformed SET_DEVICE_STATE_FD");
    }
    std::memcpy(&t, p.data(), sizeof(t));
    if (t.phase != kPhaseStopped) {
      return transfer_failed("migration phase " + std::to_string(t.phase) + " is not supported");
    }
    if (::fcntl(fds[0].get(), F_SETFL, ::fcntl(fds[0].get(), F_GETFL) | O_NONBLOCK) != 0) {
      return transfer_failed(std::string("the state channel: ") + std::strerror(errno));
    }
    if (t.direction == kTransferSave) return save_state(std::move(fds[0]));
    if (t.direction == kTransferLoad) return start_load(std::move(fds[0]));
    return transfer_failed("transfer direction " + std::to_string(t.direction) + " is unknown");
  }

  // The state is at most kMaxDeviceStateBytes (PIPE_BUF on Linux) and QEMU hands over a fresh
  // pipe it reads only after our reply: one non-blocking write fits whole. If it does not
  // (EAGAIN: not an empty pipe), the save fails instead of blocking the loop. Closing our end
  // then tells QEMU the state is complete.
  bool save_state(UniqueFd fd) {
    auto bytes = device_state_.save();
    if (!bytes.ok()) return transfer_failed("cannot save the device: " + bytes.error().message);
    const std::string& data = bytes.value();
    if (data.size() > kMaxDeviceStateBytes) return transfer_failed("the device state is too large");
    ssize_t n;
    do {
      n = ::write(fd.get(), data.data(), data.size());
    } while (n < 0 && errno == EINTR);
    if (n != static_cast<ssize_t>(data.size())) {
      return transfer_failed(n < 0 ? std::string("writing the state: ") + std::strerror(errno)
                                   : std::string("the state channel took part of the state"));
    }
    transfer_ = Transfer::kDone;
    return true;
  }

  // QEMU writes the state after our reply, then closes its end, then sends CHECK_DEVICE_STATE.
  // The pipe is read as data arrives (so QEMU never blocks on a full pipe), at most
  // kMaxDeviceStateBytes of it.
  bool start_load(UniqueFd fd) {
    load_fd_ = std::move(fd);
    load_bytes_.clear();
    transfer_ = Transfer::kLoading;
    int rc = load_poll_.init(loop_, this, uv_poll_init, load_fd_.get());
    if (rc == 0) {
      rc = uv_poll_start(load_poll_.get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
        auto* self = static_cast<Backend*>(h->data);
        if (!self) return;
        if (status < 0) return self->finish_load("the state channel: " + uv::error_text(status));
        self->read_load(false);
      });
    }
    if (rc != 0) {
      end_load_channel();
      return transfer_failed("the state channel: " + uv::error_text(rc));
    }
    return true;
  }

  // Reads what the pipe holds now. At CHECK_DEVICE_STATE (`at_check`) QEMU has closed its end,
  // so the pipe must reach its end now; nothing there yet means QEMU did not finish.
  void read_load(bool at_check) {
    char buf[1024];
    while (transfer_ == Transfer::kLoading) {
      ssize_t n = ::read(load_fd_.get(), buf, sizeof(buf));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (at_check) finish_load("QEMU asked for the result before the state was complete");
        return;
      }
      if (n < 0) return finish_load(std::string("reading the state: ") + std::strerror(errno));
      if (n == 0) return finish_load("");
      if (load_bytes_.size() + static_cast<size_t>(n) > kMaxDeviceStateBytes) {
        // Closing our end makes QEMU's write fail (EPIPE): the load fails there as well.
        return finish_load("more than " + std::to_string(kMaxDeviceStateBytes) +
                           " bytes of device state");
      }
      load_bytes_.append(buf, static_cast<size_t>(n));
    }
  }

  // Ends the load: `error` empty means the whole state arrived and is handed to the device.
  void finish_load(std::string error) {
    end_load_channel();
    if (error.empty()) {
      auto st = device_state_.load(load_bytes_);
      if (!st.ok()) error = "the saved state does not load: " + st.error().message;
    }
    load_bytes_.clear();
    if (error.empty()) {
      transfer_ = Transfer::kDone;
    } else {
      transfer_failed(error);
    }
  }

  void end_load_channel() {
    load_poll_.close();
    load_fd_.reset();
  }

  // CHECK_DEVICE_STATE: whether the last transfer fully succeeded. A transfer is checked once.
  bool check_device_state() {
    if (transfer_ == Transfer::kLoading) read_load(true);
    if (transfer_ == Transfer::kNone) transfer_failed("CHECK_DEVICE_STATE without a transfer");
    const bool ok = transfer_ == Transfer::kDone;
    transfer_ = Transfer::kNone;
    return ok;
  }

  bool transfer_failed(const std::string& why) {
    log::warn("vhost-user device state: " + why);
    transfer_ = Transfer::kFailed;
    return false;
  }

  // --- rings -------------------------------------------------------------------------------

  // Hands every available chain of queue `index` to the device; completions made meanwhile
  // interrupt the guest once, at the end.
  bool ready(uint32_t index) const {
    if (closed_ || index >= queues_.size()) return false;
    const auto& q = queues_[index];
    return q.enabled && q.kick.valid() && q.has_addresses && q.vq.size() != 0 && !mem_.empty();
  }
  bool on_demand(uint32_t index) const { return index < 64 && (on_demand_queues_ >> index) & 1; }

  void process(uint32_t index) {
    if (!ready(index)) return;
    auto& q = queues_[index];
    std::weak_ptr<int> alive = alive_;
    if (on_demand(index)) {
      // The device takes these chains itself when it has something for them.
      if (on_available_) on_available_(index);
      return;
    }
    const bool outer = !processing_;
    processing_ = true;
    while (true) {
      auto popped = q.vq.pop(mem_, limits_.max_readable, limits_.inline_readable);
      if (popped.what == Virtqueue::Popped::kEmpty) break;
      if (popped.what == Virtqueue::Popped::kBroken) {
        warn_once(q, popped.why);
        break;
      }
      if (popped.what == Virtqueue::Popped::kBadChain) {
        warn_once(q, popped.why);
        q.vq.push(mem_, popped.chain.head, 0);
        q.notify_pending = true;
        continue;
      }
      on_chain_(ChainRef{index, q.generation, std::move(popped.chain)});
      if (alive.expired() || closed_) return;
    }
    if (!outer) return;
    processing_ = false;
    for (auto& each : queues_) {
      if (each.notify_pending) each.vq.notify(mem_);
      each.notify_pending = false;
    }
  }

  // After chains of `q` went back to the guest: interrupt it now, or once at the end of the
  // current pass over the rings (or of the device's batch: interrupt()).
  void returned(Queue& q, bool interrupt) {
    if (processing_ || !interrupt) {
      q.notify_pending = true;
    } else {
      q.vq.notify(mem_);
    }
  }

  void warn_once(Queue& q, const std::string& why) {
    if (q.warned) return;
    q.warned = true;
    log::warn(name_ + " queue " + std::to_string(&q - queues_.data()) + ": " + why);
  }

  // kCancelled: QEMU closed the socket (it exited; its exit is reported elsewhere);
  // kProtocol: QEMU sent something this backend refuses.
  void fail(const std::string& why, ErrorCode code = ErrorCode::kProtocol) {
    if (closed_) return;
    log::debug(why);
    close();
    auto cb = std::move(on_lost_);
    if (cb) cb(Error(code, why));  // may destroy us: nothing after it
  }

  uv_loop_t* loop_;
  const std::string name_;
  std::vector<Queue> queues_;
  ChainLimits limits_;
  OnChain on_chain_;
  const uint64_t on_demand_queues_;
  std::function<void(uint32_t)> on_available_;
  std::function<void(const Error&)> on_lost_;
  DeviceState device_state_;
  const uint64_t offered_features_;
  const uint64_t offered_protocol_;
  UniqueFd socket_;
  uv::Handle<uv_poll_t> poll_;
  std::string in_;
  std::vector<UniqueFd> fds_;
  GuestMemory mem_;
  uint64_t features_ = 0;
  uint64_t protocol_ = 0;
  bool processing_ = false;
  bool closed_ = false;
  // The last SET_DEVICE_STATE_FD's transfer, which CHECK_DEVICE_STATE reports.
  enum class Transfer { kNone, kLoading, kDone, kFailed };
  Transfer transfer_ = Transfer::kNone;
  UniqueFd load_fd_;
  uv::Handle<uv_poll_t> load_poll_;
  std::string load_bytes_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace

Result<std::unique_ptr<VhostUserBackend>> VhostUserBackend::start(uv_loop_t* loop, UniqueFd socket,
                                                                  VhostUserDevice device) {
  if (device.queues == 0 || device.queues > 64) {
    return invalid_argument("vhost-user: bad queue count");
  }
  auto b = std::make_unique<Backend>(loop, std::move(device));
  if (int rc = b->start(std::move(socket)); rc != 0) {
    return io_error("vhost-user socket: " + uv::error_text(rc));
  }
  return std::unique_ptr<VhostUserBackend>(std::move(b));
}

}  // namespace matchlock::virtio
