// A test's stand-in for QEMU as a vhost-user front-end: a socketpair to the back end under test,
// a memfd as the guest's RAM with one split ring per queue (queue q's ring and buffers lie
// q MiB into it), and the kick and call eventfds. The test plays the guest driver through the
// rings. Messages follow the vhost-user specification, in the order QEMU sends them.
#pragma once

#include <catch2/catch.hpp>

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "virtio/guest_ram_fixture.h"

namespace matchlock::virtio::test {

enum : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kSetMemTable = 5,
  kSetLogBase = 6,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
};
inline constexpr uint32_t kNeedReply = 1u << 3;
inline constexpr uint64_t kVersion1 = uint64_t{1} << 32, kProtocolFeatures = uint64_t{1} << 30;
inline constexpr uint64_t kReplyAck = uint64_t{1} << 3;
inline constexpr uint16_t kNext = 1, kWrite = 2;
inline constexpr uint64_t kQueueShift = 1024 * 1024;

template <typename T>
std::string raw_bytes(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}
template <typename... T>
std::string pack(const T&... v) {
  return (raw_bytes(v) + ...);
}

struct Msg {
  uint32_t request = 0, flags = 0;
  std::string payload;
};

class VhostUserFrontEnd {
 public:
  uv_loop_t loop{};
  GuestRam ram;
  std::vector<GuestRing> rings;
  std::vector<UniqueFd> kicks, calls;
  UniqueFd sock;
  UniqueFd backend_end;  // the back end's end of the socket, for the back end under test

  explicit VhostUserFrontEnd(uint32_t queues) {
    uv_loop_init(&loop);
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    sock = UniqueFd(sv[1]);
    backend_end = UniqueFd(sv[0]);
    for (uint32_t q = 0; q < queues; ++q) rings.emplace_back(ram, q * kQueueShift);
  }
  // The owner destroys its back end first, then calls this.
  void close() {
    sock.reset();
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
  }

  void send(uint32_t request, const std::string& payload, std::vector<int> fds = {},
            uint32_t flags = 0x1) {
    uint32_t h[3] = {request, flags, static_cast<uint32_t>(payload.size())};
    std::string bytes = std::string(reinterpret_cast<char*>(h), 12) + payload;
    iovec iov{bytes.data(), bytes.size()};
    msghdr m{};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 32)];
    if (!fds.empty()) {
      m.msg_control = control;
      m.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
      cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    REQUIRE(::sendmsg(sock.get(), &m, MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size()));
  }
  // The next reply, pumping the loop until it arrives (nullopt: none came).
  std::optional<Msg> reply() {
    std::string in;
    for (int i = 0; i < 200; ++i) {
      uv_run(&loop, UV_RUN_NOWAIT);
      char buf[4096];
      ssize_t n =
          ::recv(sock.get(), buf, in.size() < 12 ? 12 - in.size() : sizeof(buf), MSG_DONTWAIT);
      if (n > 0) in.append(buf, static_cast<size_t>(n));
      if (in.size() >= 12) {
        uint32_t h[3];
        std::memcpy(h, in.data(), 12);
        if (in.size() >= 12 + h[2]) {
          CHECK((h[1] & 0x7) == 0x5);  // version 1, reply
          return Msg{h[0], h[1], in.substr(12, h[2])};
        }
      }
      if (n == 0) return std::nullopt;
    }
    return std::nullopt;
  }
  uint64_t get_u64(uint32_t request) {
    send(request, "");
    auto r = reply();
    REQUIRE(r);
    REQUIRE(r->request == request);
    REQUIRE(r->payload.size() == 8);
    uint64_t v = 0;
    std::memcpy(&v, r->payload.data(), 8);
    return v;
  }
  // Sends with NEED_REPLY and returns the acknowledgement (0 = success).
  uint64_t acked(uint32_t request, const std::string& payload, std::vector<int> fds = {}) {
    send(request, payload, std::move(fds), 0x1 | kNeedReply);
    auto r = reply();
    REQUIRE(r);
    REQUIRE(r->payload.size() == 8);
    uint64_t v = 0;
    std::memcpy(&v, r->payload.data(), 8);
    return v;
  }

  // What QEMU does at start, in its order; `features`: the driver's accepted device bits.
  void bring_up(uint64_t features = 0) {
    REQUIRE((get_u64(kGetFeatures) & (kVersion1 | kProtocolFeatures)) ==
            (kVersion1 | kProtocolFeatures));
    REQUIRE((get_u64(kGetProtocolFeatures) & kReplyAck) == kReplyAck);
    send(kSetProtocolFeatures, pack(kReplyAck));
    REQUIRE(get_u64(kGetQueueNum) == rings.size());
    send(kSetOwner, "");
    send(kSetFeatures, pack(kVersion1 | kProtocolFeatures | features));
    REQUIRE(acked(kSetMemTable, mem_table(ram.region()), {ram.fd.get()}) == 0);
    for (uint32_t q = 0; q < rings.size(); ++q) {
      auto& r = rings[q];
      REQUIRE(acked(kSetVringNum, pack(q, GuestRing::kNum)) == 0);
      REQUIRE(acked(kSetVringAddr, pack(q, uint32_t{0}, GuestRing::uaddr(r.desc_gpa()),
                                        GuestRing::uaddr(r.used_gpa()),
                                        GuestRing::uaddr(r.avail_gpa()), uint64_t{0})) == 0);
      REQUIRE(acked(kSetVringBase, pack(q, uint32_t{0})) == 0);
      calls.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      kicks.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      REQUIRE(acked(kSetVringCall, pack(uint64_t{q}), {calls.back().get()}) == 0);
      REQUIRE(acked(kSetVringKick, pack(uint64_t{q}), {kicks.back().get()}) == 0);
      REQUIRE(acked(kSetVringEnable, pack(q, uint32_t{1})) == 0);
    }
  }
  static std::string mem_table(const GuestMemoryRegion& r) {
    return pack(uint32_t{1}, uint32_t{0}, r.guest_phys_addr, r.memory_size, r.userspace_addr,
                r.mmap_offset);
  }
  // GET_VRING_BASE: stops queue q and returns where its available ring goes on.
  uint32_t stop_ring(uint32_t q) {
    send(kGetVringBase, pack(q, uint32_t{0}));
    auto r = reply();
    REQUIRE(r);
    REQUIRE(r->payload.size() == 8);
    uint32_t v[2];
    std::memcpy(v, r->payload.data(), 8);
    return v[1];
  }

  void kick(uint32_t q) {
    uint64_t one = 1;
    REQUIRE(::write(kicks[q].get(), &one, 8) == 8);
  }
  bool called(uint32_t q) {
    uint64_t v = 0;
    return ::read(calls[q].get(), &v, 8) == 8;
  }
  void pump(int passes = 20) {
    for (int i = 0; i < passes; ++i) uv_run(&loop, UV_RUN_NOWAIT);
  }
};

}  // namespace matchlock::virtio::test
