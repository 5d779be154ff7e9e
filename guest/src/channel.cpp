#include "channel.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "fs_util.h"
#include "log.h"

namespace matchlock::guest_agent {
namespace {

// The /dev/vportNpM device of the virtio-serial port named `port_name`, if it exists now.
std::optional<std::string> find_virtio_port(const std::string& port_name) {
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir("/sys/class/virtio-ports"), ::closedir);
  if (!dir) return std::nullopt;
  while (dirent* entry = ::readdir(dir.get())) {
    std::string port = entry->d_name;
    if (port.rfind("vport", 0) != 0) continue;
    auto name = read_file("/sys/class/virtio-ports/" + port + "/name", 256);
    if (!name) continue;
    while (!name->empty() && name->back() == '\n') name->pop_back();
    if (*name == port_name) return "/dev/" + port;
  }
  return std::nullopt;
}

}  // namespace

Result<Channel> Channel::open(const std::string& port_name, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    if (auto device = find_virtio_port(port_name)) {
      UniqueFd fd(::open(device->c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
      if (fd) return Channel(std::move(fd));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return not_found("virtio-serial port " + port_name + " did not appear");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

short Channel::poll_events() const {
  return POLLIN | (queued_bytes() > 0 ? POLLOUT : 0);
}

void Channel::send(guest_protocol::FrameType type, uint32_t stream, std::string_view payload) {
  if (!connected_) return;
  guest_protocol::encode_frame(type, stream, payload, out_);
  // Opportunistic write keeps latency low; the rest waits for POLLOUT.
  write_queued();
}

bool Channel::on_ready(short revents) {
  if (revents & POLLIN) {
    if (!read_available()) return false;
  }
  if (revents & POLLOUT) write_queued();
  if (revents & (POLLHUP | POLLERR)) return false;
  return true;
}

std::optional<guest_protocol::Frame> Channel::next_frame() {
  if (input_broken_) return std::nullopt;
  auto frame = decoder_.next();
  if (!frame && decoder_.failed()) {
    log_line("bad frame from host: " + decoder_.error());
    input_broken_ = true;
  }
  return frame;
}

bool Channel::read_available() {
  char buf[64 * 1024];
  while (true) {
    ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n > 0) {
      if (!input_broken_) decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) < sizeof buf) return true;
      continue;
    }
    if (n == 0) return false;  // no host connected
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return true;
    log_errno("read port");
    return false;
  }
}

bool Channel::write_queued() {
  while (out_pos_ < out_.size()) {
    ssize_t n = ::write(fd_.get(), out_.data() + out_pos_, out_.size() - out_pos_);
    if (n > 0) {
      out_pos_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) log_errno("write port");
    break;
  }
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  } else if (out_pos_ > (1u << 20)) {
    out_.erase(0, out_pos_);
    out_pos_ = 0;
  }
  return out_pos_ == 0 && out_.empty();
}

void Channel::mark_disconnected() {
  connected_ = false;
  // Half-written frames and partial input belong to the old connection.
  out_.clear();
  out_pos_ = 0;
  decoder_ = guest_protocol::FrameDecoder();
  input_broken_ = false;
}

bool Channel::check_reconnected() {
  pollfd pfd{fd_.get(), POLLOUT, 0};
  if (::poll(&pfd, 1, 0) < 0) return false;
  if ((pfd.revents & POLLHUP) || !(pfd.revents & POLLOUT)) return false;
  // Drop anything the old host left behind; the new one starts with HELLO.
  char buf[4096];
  while (::read(fd_.get(), buf, sizeof buf) > 0) {
  }
  connected_ = true;
  return true;
}

}  // namespace matchlock::guest_agent
