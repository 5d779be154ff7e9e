#include "vm/capped_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"

namespace matchlock::vm {
namespace {

constexpr size_t kReadChunk = 64u << 10;
// Per readable event: enough to keep up with any UART, little enough to keep the loop fair.
constexpr size_t kReadBudgetPerEvent = 1u << 20;

}  // namespace

std::string truncation_note(std::string_view source, size_t file_cap) {
  const bool whole_mib = file_cap % (1u << 20) == 0;
  const std::string size =
      whole_mib ? std::to_string(file_cap >> 20) + " MiB" : std::to_string(file_cap >> 10) + " KiB";
  return "\n[matchlock: " + std::string(source) + " wrote more than " + size +
         "; the rest is not kept in this file]\n";
}

void keep_tail(std::string& tail, std::string_view bytes, size_t max_bytes) {
  if (bytes.size() >= max_bytes) {
    tail.assign(bytes.substr(bytes.size() - max_bytes));
    return;
  }
  tail.append(bytes);
  if (tail.size() >= 2 * max_bytes) tail.erase(0, tail.size() - max_bytes);
}

Result<std::unique_ptr<CappedLog>> CappedLog::start(uv_loop_t* loop, UniqueFd socket,
                                                    const std::filesystem::path& file,
                                                    size_t file_cap, std::string source) {
  UniqueFd out(::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0600));
  if (!out) return io_error("open " + file.string() + ": " + std::strerror(errno));
  int flags = ::fcntl(socket.get(), F_GETFL);
  if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return io_error(source + " socket: " + std::strerror(errno));
  }
  std::unique_ptr<CappedLog> log(
      new CappedLog(std::move(socket), std::move(out), file_cap, std::move(source)));
  if (int rc = log->poll_.init(loop, log.get(), uv_poll_init, log->socket_.get()); rc != 0) {
    return io_error(log->source_ + " socket: " + uv::error_text(rc));
  }
  uv_poll_start(log->poll_.get(), UV_READABLE | UV_DISCONNECT, [](uv_poll_t* p, int, int) {
    if (auto* self = static_cast<CappedLog*>(p->data)) self->read_available(kReadBudgetPerEvent);
  });
  return log;
}

CappedLog::CappedLog(UniqueFd socket, UniqueFd file, size_t file_cap, std::string source)
    : socket_(std::move(socket)),
      file_(std::move(file)),
      file_cap_(file_cap),
      source_(std::move(source)) {}

CappedLog::~CappedLog() {
  poll_.close();
}

void CappedLog::read_pending_now() {
  read_available(SIZE_MAX);
}

std::string CappedLog::tail() const {
  return tail_.size() > kLogTailBytes ? tail_.substr(tail_.size() - kLogTailBytes) : tail_;
}

void CappedLog::read_available(size_t budget) {
  if (!socket_) return;
  char buf[kReadChunk];
  size_t taken = 0;
  while (taken < budget) {
    ssize_t n = ::read(socket_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return stop_reading();  // the writer is gone (or the socket broke): no more comes
    record(std::string_view(buf, static_cast<size_t>(n)));
    taken += static_cast<size_t>(n);
  }
}

void CappedLog::record(std::string_view bytes) {
  keep_tail(tail_, bytes, kLogTailBytes);
  if (capped_ || file_failed_) return;
  const size_t room = file_cap_ - written_;
  if (bytes.size() <= room) return write_file(bytes);
  write_file(bytes.substr(0, room));
  write_file(truncation_note(source_, file_cap_));  // the note goes beyond the cap, once
  capped_ = true;
}

void CappedLog::write_file(std::string_view bytes) {
  while (!bytes.empty() && !file_failed_) {
    ssize_t n = ::write(file_.get(), bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // A full disk: the file stops here, the tail in memory goes on.
      log::warn(source_ + " log: " + std::string(n < 0 ? std::strerror(errno) : "short write"));
      file_failed_ = true;
      return;
    }
    written_ += static_cast<size_t>(n);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

void CappedLog::stop_reading() {
  poll_.close();
  socket_.reset();
}

}  // namespace matchlock::vm
