// The vhost-user back-end (engine/src/virtio/vhost_user_backend.cpp) as a subverted QEMU would
// drive it: any messages with any payloads and file descriptors (guest RAM memfds, sealed or
// not, eventfds, pipes, too many of them), bytes cut anywhere, kicks, and the guest writing its
// RAM while rings run. The back-end serves two queues whose chains it hands over (virtio-fs's
// kind), one queue the device takes chains from itself (a NIC's receive ring) and a device state,
// on its own event loop.
//
// Input: a list of operations: a message (request, flags, which descriptors ride along, payload),
// raw bytes on the socket, a kick of the last eventfd sent, guest RAM writes, the device
// answering a chain it was handed, the device taking chains of the on-demand queue and giving
// them back or returning them together.
// Invariants: every reply is a well-formed reply header carrying at most 12 bytes, and while the
// byte stream holds whole messages, it answers a request that was sent, in the order sent; a
// lost channel is reported at most once and its socket is closed; handed chains come from a
// handed queue with at most the readable limit, taken ones from the on-demand queue; chains
// taken since the last return can always be given back; the negotiated device features are a
// subset of those offered; an answer is refused only when it does not fit; closing leaves
// nothing on the loop and no descriptor open (the engine ignores SIGPIPE, as here).
#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "fuzz_input.h"
#include "fuzz_loop.h"
#include "virtio/vhost_user_backend.h"

namespace virtio = matchlock::virtio;
using matchlock::UniqueFd;
using matchlock::fuzz::InputReader;
using matchlock::fuzz::shared_loop;

namespace {

constexpr uint32_t kQueues = 3;
constexpr uint32_t kOnDemandQueue = 2;
constexpr uint64_t kDeviceFeatures = (uint64_t{1} << 15) | (uint64_t{1} << 1);
constexpr size_t kMaxReadable = 4096;
constexpr uint64_t kRamSize = 64 * 1024;
constexpr uint32_t kFlagReply = 1u << 2;
constexpr uint32_t kVersion = 1;
// The requests the back-end knows, and one it does not.
constexpr uint32_t kRequests[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                  13, 14, 15, 16, 17, 18, 21, 24, 42, 43, 99};

// Guest RAM as QEMU shares it: a memfd sealed against shrinking, and the guest's view of it.
struct Ram {
  UniqueFd fd;
  uint8_t* view = nullptr;
};
const Ram& ram() {
  static const Ram r = [] {
    UniqueFd fd(::memfd_create("guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    FUZZ_CHECK(fd.valid() && ::ftruncate(fd.get(), kRamSize) == 0);
    FUZZ_CHECK(::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0);
    void* v = ::mmap(nullptr, kRamSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    FUZZ_CHECK(v != MAP_FAILED);
    return Ram{std::move(fd), static_cast<uint8_t*>(v)};
  }();
  return r;
}

// The sockets, pipes and memfds made for the current input (device and inode): once the harness
// has closed its own ends, no descriptor of this process may still refer to one of them.
std::set<std::pair<dev_t, ino_t>>& made_this_input() {
  static std::set<std::pair<dev_t, ino_t>> objects;
  return objects;
}
void remember(int fd) {
  struct stat st {};
  FUZZ_CHECK(::fstat(fd, &st) == 0);
  made_this_input().insert({st.st_dev, st.st_ino});
}

class Harness {
 public:
  explicit Harness(InputReader& in) : in_(in) {
    std::memset(ram().view, 0, kRamSize);
    int sv[2];
    FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
    qemu_.reset(sv[1]);
    remember(sv[0]);
    remember(sv[1]);
    virtio::DeviceState state{
        [] { return matchlock::Result<std::string>(std::string("fs-state")); },
        [](std::string_view bytes) {
          return bytes == "fs-state"
                     ? matchlock::Status()
                     : matchlock::Status(matchlock::Error(matchlock::ErrorCode::kProtocol,
                                                          "not this device's state"));
        }};
    virtio::VhostUserDevice device;
    device.name = "fuzzed";
    device.queues = kQueues;
    device.features = kDeviceFeatures;
    device.limits = virtio::ChainLimits{kMaxReadable};
    device.on_chain = [this](virtio::ChainRef c) {
      FUZZ_CHECK(!lost_ && c.queue < kQueues && c.queue != kOnDemandQueue);
      FUZZ_CHECK(c.chain.readable.size() <= kMaxReadable);
      held_.push_back(std::move(c));
    };
    device.on_demand_queues = uint64_t{1} << kOnDemandQueue;
    device.on_available = [this](uint32_t queue) { FUZZ_CHECK(!lost_ && queue == kOnDemandQueue); };
    device.on_lost = [this](const matchlock::Error&) {
      FUZZ_CHECK(!lost_);
      lost_ = true;
    };
    device.device_state = std::move(state);
    auto b = virtio::VhostUserBackend::start(shared_loop(), UniqueFd(sv[0]), std::move(device));
    FUZZ_CHECK(b.ok());
    backend_ = std::move(b.value());
  }

  ~Harness() {
    qemu_.reset();  // QEMU goes away: the back-end hears the end of its socket
    pump();
    backend_.reset();
    matchlock::fuzz::check_loop_empty();
  }

  void run() {
    for (int step = 0; step < 256 && !in_.empty(); ++step) {
      switch (in_.u8() % 6) {
        case 0:
          send_message();
          break;
        case 1:  // raw bytes: a header or payload cut anywhere, or garbage
          whole_messages_ = false;
          send_bytes(in_.bytes(in_.u8() % 24), {});
          break;
        case 2:  // the guest kicks the last kick fd handed over
          if (kick_.valid()) {
            uint64_t one = 1;
            FUZZ_CHECK(::write(kick_.get(), &one, sizeof one) == sizeof one);
          }
          break;
        case 3: {  // the guest writes its RAM
          const uint64_t offset = in_.u16() % kRamSize;
          std::string b = in_.bytes(in_.u8() % 33);
          std::memcpy(ram().view + offset, b.data(),
                      std::min<uint64_t>(b.size(), kRamSize - offset));
          break;
        }
        case 4:  // the device answers the oldest chain it holds
          if (!held_.empty() && !lost_) {
            virtio::ChainRef c = std::move(held_.front());
            held_.pop_front();
            const size_t size = in_.u16() % 600;
            if (!backend_->complete(c, std::string(size, 'r'))) {
              FUZZ_CHECK(size > c.chain.writable_bytes);
              held_.push_front(std::move(c));  // still pending: answered again later
            }
          }
          break;
        case 5:
          take_from_on_demand_queue();
          break;
      }
      pump();
    }
  }

 private:
  // One message: request, flags, the descriptors sent with it, and its payload (whose declared
  // size may differ from what follows: the rest then reads as the next message).
  void send_message() {
    const uint32_t request = kRequests[in_.u8() % std::size(kRequests)];
    uint32_t flags = in_.u8();
    if (!(in_.u8() & 1)) flags |= kVersion;
    const uint8_t fd_kind = in_.u8();
    const size_t declared = in_.u8() & 0x80 ? in_.u16() : in_.u8() % 64;
    std::string payload = in_.bytes(std::min<size_t>(declared, 512));
    if (payload.size() != declared) whole_messages_ = false;
    uint32_t h[3] = {request, flags, static_cast<uint32_t>(declared)};
    std::string msg(reinterpret_cast<const char*>(h), sizeof h);
    msg += payload;
    sent_.push_back(request);
    send_bytes(msg, descriptors(fd_kind));
  }

  std::vector<UniqueFd> descriptors(uint8_t kind) {
    std::vector<UniqueFd> fds;
    auto ram_fd = [] { return UniqueFd(::fcntl(ram().fd.get(), F_DUPFD_CLOEXEC, 0)); };
    switch (kind % 8) {
      case 0:
        break;
      case 1:
      case 2:  // guest RAM for a memory table of one or two regions
        for (int i = 0; i < kind % 8; ++i) fds.push_back(ram_fd());
        break;
      case 3: {  // an eventfd: kick, call or err
        fds.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
        kick_.reset(::fcntl(fds.back().get(), F_DUPFD_CLOEXEC, 0));
        break;
      }
      case 4: {  // RAM that could still shrink: must be refused
        UniqueFd m(::memfd_create("unsealed", MFD_CLOEXEC));
        FUZZ_CHECK(::ftruncate(m.get(), kRamSize) == 0);
        remember(m.get());
        fds.push_back(std::move(m));
        break;
      }
      case 5: {  // a pipe the back-end reads device state from: written now, then closed
        int p[2];
        FUZZ_CHECK(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
        remember(p[0]);
        UniqueFd write_end(p[1]);
        std::string state = in_.u8() & 1 ? std::string("fs-state") : in_.bytes(in_.u8() % 16);
        if (!state.empty()) FUZZ_CHECK(::write(write_end.get(), state.data(), state.size()) > 0);
        fds.emplace_back(p[0]);
        break;
      }
      case 6: {  // a pipe the back-end writes device state to; we keep the read end open
        int p[2];
        FUZZ_CHECK(::pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
        remember(p[0]);
        state_reader_.reset(p[0]);
        fds.emplace_back(p[1]);
        break;
      }
      case 7:  // more descriptors than any message may carry
        for (int i = 0; i < 9; ++i) fds.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        break;
    }
    return fds;
  }

  void send_bytes(const std::string& bytes, const std::vector<UniqueFd>& fds) {
    if (!qemu_.valid() || bytes.empty()) return;
    iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 9)];
    if (!fds.empty()) {
      msg.msg_control = control;
      msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      for (size_t i = 0; i < fds.size(); ++i) {
        int fd = fds[i].get();
        std::memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof(int));
      }
    }
    // The back-end may have closed its end (a refused message): EPIPE is then expected.
    (void)::sendmsg(qemu_.get(), &msg, MSG_NOSIGNAL);
  }

  // The device takes a few chains, then gives them back unused (they must go back: nothing was
  // returned since) or returns them together with some bytes placed in each.
  void take_from_on_demand_queue() {
    if (lost_) return;
    FUZZ_CHECK((backend_->features() & ~kDeviceFeatures) == 0);
    std::vector<virtio::ChainRef> taken;
    for (int n = in_.u8() % 5; n > 0; --n) {
      auto c = backend_->take(kOnDemandQueue);
      if (!c) break;
      FUZZ_CHECK(c->queue == kOnDemandQueue && c->chain.readable.size() <= kMaxReadable);
      taken.push_back(std::move(*c));
    }
    FUZZ_CHECK(!backend_->take(0));  // queue 0's chains are handed over: none to take
    if (taken.empty()) return;
    if (in_.u8() & 1) {
      FUZZ_CHECK(backend_->give_back(kOnDemandQueue, taken.size()));
      return;
    }
    std::vector<size_t> placed;
    for (const auto& c : taken) placed.push_back(in_.u16() % (c.chain.writable_bytes + 2));
    backend_->complete_together(taken, placed, in_.u8() & 1);
    FUZZ_CHECK(!backend_->give_back(kOnDemandQueue, 1));  // returned: no longer the device's
    backend_->interrupt(kOnDemandQueue);
  }

  // Runs the back-end until it is idle and checks what it answered.
  void pump() {
    for (int i = 0; i < 4; ++i) uv_run(shared_loop(), UV_RUN_NOWAIT);
    if (!qemu_.valid()) return;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(qemu_.get(), buf, sizeof buf, MSG_DONTWAIT)) > 0) {
      replies_.append(buf, static_cast<size_t>(n));
    }
    // A lost channel is closed: the end of the stream (a reset when it closed with our bytes
    // still unread).
    FUZZ_CHECK(!lost_ || n == 0 || (n < 0 && errno == ECONNRESET));
    while (replies_.size() >= 12) {
      uint32_t h[3];
      std::memcpy(h, replies_.data(), sizeof h);
      FUZZ_CHECK(h[1] == (kVersion | kFlagReply) && h[2] <= 12);
      if (replies_.size() < 12 + h[2]) break;
      replies_.erase(0, 12 + h[2]);
      if (!whole_messages_) continue;
      // Replies answer requests in the order they were sent (some requests get none).
      while (!sent_.empty() && sent_.front() != h[0]) sent_.pop_front();
      FUZZ_CHECK(!sent_.empty());
      sent_.pop_front();
    }
  }

  InputReader& in_;
  UniqueFd qemu_;  // our end of the socket: QEMU's
  UniqueFd kick_;
  UniqueFd state_reader_;
  std::unique_ptr<virtio::VhostUserBackend> backend_;
  std::deque<virtio::ChainRef> held_;
  std::deque<uint32_t> sent_;
  std::string replies_;
  bool lost_ = false;
  bool whole_messages_ = true;  // the stream so far is whole messages, as sent
};

// Descriptors this process holds that refer to an object made for the input just finished, and
// how many eventfds and /dev/null it holds (those share one inode each, so they are counted).
struct OpenDescriptors {
  int made_this_input = 0;
  int eventfds = 0;
  int dev_null = 0;
  bool operator==(const OpenDescriptors&) const = default;
};
OpenDescriptors open_descriptors() {
  OpenDescriptors out;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/proc/self/fd"), ::closedir);
  FUZZ_CHECK(dir != nullptr);
  while (const dirent* e = ::readdir(dir.get())) {
    const std::string path = std::string("/proc/self/fd/") + e->d_name;
    char target[64] = {};
    struct stat st {};
    if (e->d_name[0] == '.' || ::readlink(path.c_str(), target, sizeof target - 1) <= 0 ||
        ::stat(path.c_str(), &st) != 0) {
      continue;
    }
    const std::string_view t = target;
    if (t == "anon_inode:[eventfd]") ++out.eventfds;
    if (t == "/dev/null") ++out.dev_null;
    if (made_this_input().count({st.st_dev, st.st_ino})) ++out.made_this_input;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  matchlock::fuzz::engine_process_settings();
  {
    InputReader in(data, size);
    Harness h(in);
    h.run();
  }
  // Counted after the first input, once the loop and the RAM hold their own descriptors.
  static const OpenDescriptors baseline = open_descriptors();
  const OpenDescriptors now = open_descriptors();
  made_this_input().clear();
  FUZZ_CHECK(now.made_this_input == 0);
  FUZZ_CHECK(now == baseline);
  return 0;
}
