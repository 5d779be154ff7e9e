// The VFS relay's copy loops: replies delimited by fuse_out_header.len (split, batched, bounded)
// and written one per write(); requests copied one read() at a time. A SOCK_SEQPACKET pair
// stands in for /dev/fuse, so message boundaries are visible to the test.
#include "vfs_relay.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace matchlock;
using guest_agent::FuseReplyReader;
using guest_agent::kMaxFuseMessage;

namespace {

// A fuse_out_header (len, error, unique) followed by `body`.
std::string reply(uint64_t unique, const std::string& body, int32_t error = 0) {
  uint32_t len = static_cast<uint32_t>(16 + body.size());
  std::string out(16, '\0');
  std::memcpy(out.data(), &len, 4);
  std::memcpy(out.data() + 4, &error, 4);
  std::memcpy(out.data() + 8, &unique, 8);
  return out + body;
}

std::string header_with_len(uint32_t len) {
  std::string out(16, '\0');
  std::memcpy(out.data(), &len, 4);
  return out;
}

std::vector<std::string> drain(FuseReplyReader& r) {
  std::vector<std::string> out;
  while (auto m = r.next()) out.emplace_back(*m);
  return out;
}

struct Pair {
  int fd[2] = {-1, -1};
  explicit Pair(int type) { REQUIRE(::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fd) == 0); }
  ~Pair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  void close_end(int i) {
    ::close(fd[i]);
    fd[i] = -1;
  }
};

}  // namespace

TEST_CASE("fuse reply reader reassembles replies split across reads", "[guest_agent][vfs]") {
  FuseReplyReader r;
  std::string a = reply(1, "hello");
  r.feed(a.substr(0, 3));  // not even the length yet
  CHECK(drain(r).empty());
  r.feed(a.substr(3, 10));
  CHECK(drain(r).empty());
  r.feed(a.substr(13));
  auto got = drain(r);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == a);
  CHECK(r.buffered() == 0);
  CHECK_FALSE(r.failed());
}

TEST_CASE("fuse reply reader splits several replies from one read", "[guest_agent][vfs]") {
  FuseReplyReader r;
  std::string a = reply(1, ""), b = reply(2, std::string(5000, 'x')), c = reply(3, "c");
  r.feed(a + b + c.substr(0, 7));
  auto got = drain(r);
  REQUIRE(got.size() == 2);
  CHECK(got[0] == a);
  CHECK(got[1] == b);
  r.feed(c.substr(7));
  got = drain(r);
  REQUIRE(got.size() == 1);
  CHECK(got[0] == c);
}

TEST_CASE("fuse reply reader fails for good on an impossible length", "[guest_agent][vfs]") {
  for (uint32_t len : {0u, 4u, 15u, static_cast<uint32_t>(kMaxFuseMessage + 1), 0xffffffffu}) {
    FuseReplyReader r;
    r.feed(reply(1, "ok") + header_with_len(len));
    auto got = drain(r);
    CHECK(got.size() == 1);  // the good one before it still goes through
    CHECK(r.failed());
    r.feed(reply(2, "after"));
    CHECK(drain(r).empty());
  }
  FuseReplyReader largest;
  std::string big = reply(9, std::string(kMaxFuseMessage - 16, 'b'));
  largest.feed(big);
  auto got = drain(largest);
  REQUIRE(got.size() == 1);
  CHECK(got[0].size() == kMaxFuseMessage);
}

TEST_CASE("relay_replies writes each reply whole, however the port cut it", "[guest_agent][vfs]") {
  Pair port(SOCK_STREAM), fuse(SOCK_SEQPACKET);
  std::string a = reply(1, "first"), b = reply(2, std::string(100'000, 'y')), c = reply(3, "");
  std::string stream = a + b + c;
  // Odd pieces: a reply cut in the middle, two replies in one piece.
  for (size_t off = 0; off < stream.size();) {
    size_t n = std::min<size_t>(off == 0 ? 7 : 65'536, stream.size() - off);
    REQUIRE(::write(port.fd[1], stream.data() + off, n) == static_cast<ssize_t>(n));
    off += n;
  }
  port.close_end(1);
  auto st = guest_agent::relay_replies(port.fd[0], fuse.fd[0]);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().message.find("closed") != std::string::npos);

  std::vector<std::string> messages;
  std::string buf(kMaxFuseMessage, '\0');
  ssize_t n;
  while ((n = ::recv(fuse.fd[1], buf.data(), buf.size(), MSG_DONTWAIT)) > 0) {
    messages.emplace_back(buf.data(), static_cast<size_t>(n));
  }
  REQUIRE(messages.size() == 3);
  CHECK(messages[0] == a);
  CHECK(messages[1] == b);
  CHECK(messages[2] == c);
}

TEST_CASE("relay_replies stops at a bad length", "[guest_agent][vfs]") {
  Pair port(SOCK_STREAM), fuse(SOCK_SEQPACKET);
  std::string bytes = reply(1, "ok") + header_with_len(8) + reply(2, "never");
  REQUIRE(::write(port.fd[1], bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  auto st = guest_agent::relay_replies(port.fd[0], fuse.fd[0]);
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().code == ErrorCode::kProtocol);
  char buf[64];
  CHECK(::recv(fuse.fd[1], buf, sizeof buf, MSG_DONTWAIT) == 18);
  CHECK(::recv(fuse.fd[1], buf, sizeof buf, MSG_DONTWAIT) < 0);
}

TEST_CASE("relay_requests copies each request unchanged", "[guest_agent][vfs]") {
  Pair fuse(SOCK_SEQPACKET), port(SOCK_STREAM);
  std::string r1(40, 'a'), r2(60'000, 'b');
  REQUIRE(::send(fuse.fd[1], r1.data(), r1.size(), 0) == static_cast<ssize_t>(r1.size()));
  REQUIRE(::send(fuse.fd[1], r2.data(), r2.size(), 0) == static_cast<ssize_t>(r2.size()));
  fuse.close_end(1);
  auto st = guest_agent::relay_requests(fuse.fd[0], port.fd[0]);
  CHECK_FALSE(st.ok());  // the "kernel" went away
  port.close_end(0);
  std::string got, buf(65'536, '\0');
  ssize_t n;
  while ((n = ::read(port.fd[1], buf.data(), buf.size())) > 0) got.append(buf.data(), n);
  CHECK(got == r1 + r2);
}
