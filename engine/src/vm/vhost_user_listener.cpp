#include "vm/vhost_user_listener.h"

#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <cstring>

#include "core/log.h"

namespace matchlock::vm {
namespace {

Result<std::string> random_name() {
  unsigned char bytes[16];
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    return io_error(std::string("getrandom: ") + std::strerror(errno));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "matchlock-vhost-net-";
  for (unsigned char b : bytes) {
    name += kHex[b >> 4];
    name += kHex[b & 0xf];
  }
  return name;
}

}  // namespace

Result<std::unique_ptr<VhostUserListener>> VhostUserListener::listen(uv_loop_t* loop) {
  auto name = random_name();
  if (!name.ok()) return name.error();
  std::unique_ptr<VhostUserListener> l(new VhostUserListener());
  l->name_ = std::move(name.value());
  l->socket_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!l->socket_.valid())
    return io_error(std::string("vhost-user socket: ") + std::strerror(errno));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // Abstract: sun_path starts with NUL, and the address length says where the name ends.
  std::memcpy(addr.sun_path + 1, l->name_.data(), l->name_.size());
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + l->name_.size());
  if (::bind(l->socket_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      ::listen(l->socket_.get(), 4) != 0) {
    return io_error(std::string("vhost-user socket: ") + std::strerror(errno));
  }
  if (int rc = l->poll_.init(loop, l.get(), uv_poll_init, l->socket_.get()); rc != 0) {
    return io_error("vhost-user socket: " + uv::error_text(rc));
  }
  return l;
}

VhostUserListener::~VhostUserListener() {
  poll_.close();
}

void VhostUserListener::accept_from(pid_t pid, std::function<void(UniqueFd)> on_connected) {
  pid_ = pid;
  callback_ = std::move(on_connected);
  uv_poll_start(poll_.get(), UV_READABLE, [](uv_poll_t* h, int, int) {
    if (auto* self = static_cast<VhostUserListener*>(h->data)) self->on_readable();
  });
}

void VhostUserListener::on_readable() {
  while (socket_.valid()) {
    UniqueFd conn(::accept4(socket_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn.valid()) return;  // EAGAIN, or a failed accept: the next connection may do
    ucred cred{};
    socklen_t cred_len = sizeof cred;
    if (::getsockopt(conn.get(), SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) != 0 ||
        cred.pid != pid_) {
      // Once as a warning: a local process connecting in a loop must not flood the user's log.
      const std::string what = "vhost-user socket " + name_ + ": a connection from pid " +
                               std::to_string(cred.pid) + ", not QEMU's, refused";
      if (refused_++ == 0) {
        log::warn(what);
      } else {
        log::debug(what);
      }
      continue;
    }
    poll_.close();  // QEMU connects once: no one else is heard from now on
    socket_.reset();
    auto cb = std::move(callback_);
    if (cb) cb(std::move(conn));  // may destroy us: nothing after it
    return;
  }
}

}  // namespace matchlock::vm
