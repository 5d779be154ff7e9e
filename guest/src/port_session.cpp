#include "port_session.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rapidjson/document.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "agent_messages.h"
#include "log.h"

namespace matchlock::guest_agent {

using guest_protocol::FrameType;

namespace {

// Bytes from the host beyond the credit we granted are a host bug; past this we give up on the
// connection rather than buffer without bound.
constexpr size_t kMaxPendingToSocket = 2 * guest_protocol::kInitialCredit;
constexpr uint64_t kMaxCredit = uint64_t{1} << 40;

// A PORT_OPEN body resolved to a socket address. Only loopback targets are accepted: a port
// stream reaches services inside the guest, it is not a way out of it.
struct Target {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

std::optional<Target> parse_target(std::string_view request, std::string& error) {
  rapidjson::Document doc;
  doc.Parse(request.data(), request.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    error = "PORT_OPEN is not a JSON object";
    return std::nullopt;
  }
  auto port_it = doc.FindMember("port");
  if (port_it == doc.MemberEnd() || !port_it->value.IsUint() || port_it->value.GetUint() == 0 ||
      port_it->value.GetUint() > 65535) {
    error = "PORT_OPEN needs a port from 1 to 65535";
    return std::nullopt;
  }
  auto port = static_cast<uint16_t>(port_it->value.GetUint());
  std::string address = "127.0.0.1";
  auto addr_it = doc.FindMember("address");
  if (addr_it != doc.MemberEnd()) {
    if (!addr_it->value.IsString() || addr_it->value.GetStringLength() > 64) {
      error = "PORT_OPEN address must be an IP address";
      return std::nullopt;
    }
    address.assign(addr_it->value.GetString(), addr_it->value.GetStringLength());
  }

  Target t;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&t.addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&t.addr);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    if ((ntohl(v4->sin_addr.s_addr) >> 24) != 127) {
      error = "address " + address + " is not a loopback address";
      return std::nullopt;
    }
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    t.len = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    if (!IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr)) {
      error = "address " + address + " is not a loopback address";
      return std::nullopt;
    }
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    t.len = sizeof(sockaddr_in6);
  } else {
    error = "address \"" + address + "\" is not an IP address";
    return std::nullopt;
  }
  return t;
}

std::string errno_text(int err) {
  return std::strerror(err);
}

}  // namespace

PortSession::PortSession(uint32_t stream, std::string_view open_request, FrameSink& sink)
    : stream_(stream), sink_(sink) {
  std::string error;
  auto target = parse_target(open_request, error);
  if (!target) {
    refuse(error);
    return;
  }
  socket_.reset(::socket(target->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket_) {
    refuse("socket: " + errno_text(errno));
    return;
  }
  int one = 1;
  ::setsockopt(socket_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  int rc;
  do {
    rc = ::connect(socket_.get(), reinterpret_cast<const sockaddr*>(&target->addr), target->len);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    on_connected();
  } else if (errno != EINPROGRESS) {
    refuse(errno_text(errno));
  }
}

std::optional<pollfd> PortSession::poll_request(bool port_has_room) const {
  short events = 0;
  if (state_ == State::kConnecting) {
    events = POLLOUT;
  } else if (state_ == State::kOpen) {
    if (!socket_eof_sent_ && credit_ > 0 && port_has_room) events |= POLLIN;
    if (!to_socket_.empty()) events |= POLLOUT;
  }
  if (events == 0) return std::nullopt;
  return pollfd{socket_.get(), events, 0};
}

void PortSession::on_poll_ready(short revents) {
  if (state_ == State::kConnecting) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(socket_.get(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
    if (err == 0) return on_connected();
    if (err == EINPROGRESS || err == EALREADY) return;
    return refuse(errno_text(err));
  }
  if (state_ != State::kOpen) return;
  // Errors and hang-ups surface as the read's or the write's own result.
  const short wake = POLLHUP | POLLERR;
  if (!socket_eof_sent_ && credit_ > 0 && (revents & (POLLIN | wake))) read_socket();
  if (state_ == State::kOpen && !to_socket_.empty() && (revents & (POLLOUT | wake))) {
    write_socket();
  }
}

void PortSession::on_frame(const guest_protocol::Frame& frame) {
  if (state_ == State::kClosed) return;  // late frames after the end are normal
  switch (frame.type) {
    case FrameType::kData: {
      auto data = guest_protocol::parse_data(frame.payload);
      if (!data || data->fd != guest_protocol::kStdin || host_eof_) return;
      to_socket_.append(data->bytes);
      if (to_socket_.size() > kMaxPendingToSocket) return fail("host sent beyond its credit");
      if (state_ == State::kOpen) write_socket();
      return;
    }
    case FrameType::kEof: {
      auto fd = guest_protocol::parse_fd(frame.payload);
      if (!fd || *fd != guest_protocol::kStdin) return;
      host_eof_ = true;
      if (state_ == State::kOpen) write_socket();
      return;
    }
    case FrameType::kCredit: {
      auto credit = guest_protocol::parse_credit(frame.payload);
      if (!credit || credit->fd != guest_protocol::kStdout) return;
      credit_ = std::min(credit_ + credit->bytes, kMaxCredit);
      return;
    }
    case FrameType::kPortClose:
      // The host already forgot the stream: nothing more is sent on it.
      close_socket();
      return;
    default:
      log_line(std::string("unexpected ") + guest_protocol::frame_type_name(frame.type) +
               " on port stream " + std::to_string(stream_) + " ignored");
      return;
  }
}

void PortSession::on_connected() {
  state_ = State::kOpen;
  sink_.send(FrameType::kPortOpened, stream_, "{}");
  write_socket();  // bytes (or EOF) the host sent while we were connecting
}

void PortSession::refuse(const std::string& message) {
  sink_.send(FrameType::kError, stream_, error_message(message));
  close_socket();
}

// One chunk per wake-up, so one busy connection cannot starve the others.
void PortSession::read_socket() {
  char buf[guest_protocol::kMaxDataChunk];
  size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof buf, credit_));
  ssize_t n;
  do {
    n = ::recv(socket_.get(), buf, want, 0);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    credit_ -= static_cast<uint64_t>(n);
    sink_.send(FrameType::kData, stream_,
               guest_protocol::data_payload(guest_protocol::kStdout,
                                            std::string_view(buf, static_cast<size_t>(n))));
    return;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
  if (n < 0) return fail(errno_text(errno));
  socket_eof_sent_ = true;
  sink_.send(FrameType::kEof, stream_, guest_protocol::fd_payload(guest_protocol::kStdout));
  maybe_finish();
}

void PortSession::write_socket() {
  size_t written = 0;
  while (written < to_socket_.size()) {
    ssize_t n = ::send(socket_.get(), to_socket_.data() + written, to_socket_.size() - written,
                       MSG_NOSIGNAL);
    if (n > 0) {
      written += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    return fail(errno_text(errno));
  }
  if (written > 0) {
    to_socket_.erase(0, written);
    sink_.send(
        FrameType::kCredit, stream_,
        guest_protocol::credit_payload(guest_protocol::kStdin, static_cast<uint32_t>(written)));
  }
  if (to_socket_.empty() && host_eof_ && !socket_write_shut_) {
    socket_write_shut_ = true;
    ::shutdown(socket_.get(), SHUT_WR);
  }
  maybe_finish();
}

void PortSession::maybe_finish() {
  if (state_ != State::kOpen || !socket_eof_sent_ || !socket_write_shut_) return;
  sink_.send(FrameType::kPortClosed, stream_, "{}");
  close_socket();
}

void PortSession::fail(const std::string& message) {
  if (state_ == State::kClosed) return;
  if (state_ == State::kConnecting) return refuse(message);  // no PORT_CLOSED before PORT_OPENED
  sink_.send(FrameType::kPortClosed, stream_, port_closed_message(message));
  close_socket();
}

void PortSession::close_socket() {
  state_ = State::kClosed;
  socket_.reset();
  to_socket_.clear();
}

}  // namespace matchlock::guest_agent
