// Message loop and ring plumbing of the vhost-user backend. Messages are read one at a time
// with exact sizes (header, then payload), so the descriptors that arrive belong to the message
// being read; at most kMaxFds per message. Replies are small and QEMU waits for them: a full
// socket (EAGAIN) means a front-end that does not read, and ends the channel.
#include "vfs/vhost_user_backend.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "core/log.h"
#include "core/uv.h"

namespace matchlock::vfs {
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
constexpr uint64_t kOfferedFeatures = kFeatureVersion1 | kFeatureProtocolFeatures;
constexpr uint64_t kProtocolMq = uint64_t{1} << 0;
constexpr uint64_t kProtocolReplyAck = uint64_t{1} << 3;
constexpr uint64_t kOfferedProtocol = kProtocolMq | kProtocolReplyAck;

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
  Backend(uv_loop_t* loop, uint32_t queues, size_t max_readable, OnChain on_chain,
          std::function<void(const Error&)> on_lost)
      : loop_(loop),
        queues_(queues),
        max_readable_(max_readable),
        on_chain_(std::move(on_chain)),
        on_lost_(std::move(on_lost)) {}
  ~Backend() override { close(); }

  int start(UniqueFd socket) {
    socket_ = std::move(socket);
    if (int rc = poll_.init(loop_, this, uv_poll_init, socket_.get()); rc != 0) return rc;
    return uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* h, int status, int) {
      auto* self = static_cast<Backend*>(h->data);
      if (self) self->on_readable(status);
    });
  }

  bool complete(const ChainRef& ref, std::string_view reply) override {
    if (closed_ || ref.queue >= queues_.size()) return true;
    auto& q = queues_[ref.queue];
    if (ref.generation != q.generation) return true;  // stopped since: the chain is gone
    if (!reply.empty() && !Virtqueue::scatter(mem_, ref.chain, reply)) {
      if (reply.size() > ref.chain.writable_bytes) return false;
      reply = {};  // a buffer left guest memory (a new table): return the chain empty
    }
    if (!q.vq.push(mem_, ref.chain.head, static_cast<uint32_t>(reply.size()))) {
      warn_once(q, "the used ring is outside guest memory");
      return true;
    }
    if (processing_) {
      q.notify_pending = true;
    } else {
      q.vq.notify();
    }
    return true;
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    poll_.close();
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
        reply_u64(h, kOfferedFeatures);
        replied = true;
        break;
      case kSetFeatures: {
        uint64_t v = 0;
        ok = u64(&v);
        features_ = v & kOfferedFeatures;
        // Without protocol features, rings are enabled from the start (vhost-user spec).
        if (!(features_ & kFeatureProtocolFeatures)) {
          for (auto& q : queues_) q.enabled = true;
        }
        break;
      }
      case kGetProtocolFeatures:
        reply_u64(h, kOfferedProtocol);
        replied = true;
        break;
      case kSetProtocolFeatures: {
        uint64_t v = 0;
        ok = u64(&v);
        protocol_ = v & kOfferedProtocol;
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
        ok = false;  // no dirty logging: migration is not supported
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

  // --- rings -------------------------------------------------------------------------------

  // Hands every available chain of queue `index` to the device; completions made meanwhile
  // interrupt the guest once, at the end.
  void process(uint32_t index) {
    auto& q = queues_[index];
    if (closed_ || !q.enabled || !q.kick.valid() || !q.has_addresses || q.vq.size() == 0 ||
        mem_.empty()) {
      return;
    }
    std::weak_ptr<int> alive = alive_;
    const bool outer = !processing_;
    processing_ = true;
    while (true) {
      auto popped = q.vq.pop(mem_, max_readable_);
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
      if (each.notify_pending) each.vq.notify();
      each.notify_pending = false;
    }
  }

  void warn_once(Queue& q, const std::string& why) {
    if (q.warned) return;
    q.warned = true;
    log::warn("virtio-fs queue " + std::to_string(&q - queues_.data()) + ": " + why);
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
  std::vector<Queue> queues_;
  size_t max_readable_;
  OnChain on_chain_;
  std::function<void(const Error&)> on_lost_;
  UniqueFd socket_;
  uv::Handle<uv_poll_t> poll_;
  std::string in_;
  std::vector<UniqueFd> fds_;
  GuestMemory mem_;
  uint64_t features_ = 0;
  uint64_t protocol_ = 0;
  bool processing_ = false;
  bool closed_ = false;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
};

}  // namespace

Result<std::unique_ptr<VhostUserBackend>> VhostUserBackend::start(
    uv_loop_t* loop, UniqueFd socket, uint32_t queues, size_t max_readable, OnChain on_chain,
    std::function<void(const Error&)> on_lost) {
  if (queues == 0 || queues > 64) return invalid_argument("vhost-user: bad queue count");
  auto b = std::make_unique<Backend>(loop, queues, max_readable, std::move(on_chain),
                                     std::move(on_lost));
  if (int rc = b->start(std::move(socket)); rc != 0) {
    return io_error("vhost-user socket: " + uv::error_text(rc));
  }
  return std::unique_ptr<VhostUserBackend>(std::move(b));
}

}  // namespace matchlock::vfs
