#include "vfs_relay.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <thread>

#include "log.h"

namespace matchlock::guest_agent {
namespace {

Error errno_error(const std::string& what) {
  return Error(ErrorCode::kIo, what + ": " + std::strerror(errno));
}

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

void FuseReplyReader::feed(std::string_view bytes) {
  if (failed_) return;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > kMaxFuseMessage) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(bytes);
}

std::optional<std::string_view> FuseReplyReader::next() {
  if (failed_ || buffered() < sizeof(uint32_t)) return std::nullopt;
  uint32_t len;
  std::memcpy(&len, buf_.data() + pos_, sizeof len);
  if (len < kFuseOutHeaderSize || len > kMaxFuseMessage) {
    failed_ = true;
    return std::nullopt;
  }
  if (buffered() < len) return std::nullopt;
  std::string_view reply(buf_.data() + pos_, len);
  pos_ += len;
  return reply;
}

Status relay_replies(int port_fd, int fuse_fd) {
  FuseReplyReader reader;
  // Reads are at most one whole message, so the reader's buffer stays within two messages.
  auto buf = std::make_unique<char[]>(kMaxFuseMessage);
  while (true) {
    ssize_t n = ::read(port_fd, buf.get(), kMaxFuseMessage);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_error("read matchlock.vfs");
    if (n == 0) return Error(ErrorCode::kIo, "matchlock.vfs closed by the host");
    reader.feed(std::string_view(buf.get(), static_cast<size_t>(n)));
    while (auto reply = reader.next()) {
      ssize_t w;
      do {
        w = ::write(fuse_fd, reply->data(), reply->size());
      } while (w < 0 && errno == EINTR);
      // ENOENT: the request was interrupted and is gone; anything else is the host's malformed
      // reply, which the kernel refused: the request stays unanswered, the others go on.
      if (w < 0 && errno != ENOENT) log_errno("write /dev/fuse");
    }
    if (reader.failed()) {
      return Error(ErrorCode::kProtocol, "matchlock.vfs: reply length out of bounds");
    }
  }
}

Status relay_requests(int fuse_fd, int port_fd) {
  auto buf = std::make_unique<char[]>(kMaxFuseMessage);
  while (true) {
    ssize_t n = ::read(fuse_fd, buf.get(), kMaxFuseMessage);
    if (n < 0 && (errno == EINTR || errno == ENOENT || errno == EAGAIN)) continue;
    if (n < 0 && errno == ENODEV) return {};  // unmounted
    if (n == 0) return Error(ErrorCode::kIo, "/dev/fuse ended");
    if (n < 0) return errno_error("read /dev/fuse");
    if (!write_all(port_fd, buf.get(), static_cast<size_t>(n))) {
      return errno_error("write matchlock.vfs");
    }
  }
}

// Two threads with blocking I/O, one per direction: each direction is a plain copy loop that
// never waits on the other, so any number of requests can be in flight both ways, and neither
// side needs buffering beyond one message (a poll loop would need non-blocking partial writes).
Result<pid_t> start_vfs_relay(UniqueFd fuse_fd, UniqueFd port_fd) {
  pid_t pid = ::fork();
  if (pid < 0) return errno_error("fork the VFS relay");
  if (pid > 0) return pid;

  // The child: PID 1's signal setup (blocked SIGCHLD, ignored SIGPIPE) is inherited; only
  // SIGKILL from the shutdown sequence ends it, or the end of either side.
  ::signal(SIGTERM, SIG_IGN);
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGHUP, SIG_IGN);
  ::prctl(PR_SET_NAME, "vfs-relay", 0, 0, 0);
  int fuse = fuse_fd.get();
  int port = port_fd.get();
  // Copies of the agent's other fds (the channel, any session's pipes) must not stay open here;
  // the console stays for the log.
  const int console = console_fd();
  for (int fd = 3; fd < 4096; ++fd) {
    if (fd != fuse && fd != port && fd != console) ::close(fd);
  }
  std::thread replies([port, fuse] {
    auto st = relay_replies(port, fuse);
    log_line("vfs relay: " + (st.ok() ? std::string("stopped") : st.error().message));
    ::_exit(1);
  });
  auto st = relay_requests(fuse, port);
  log_line("vfs relay: " + (st.ok() ? std::string("unmounted") : st.error().message));
  ::_exit(st.ok() ? 0 : 1);
}

}  // namespace matchlock::guest_agent
