#include "exec_session.h"

#include <sys/ioctl.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>

#include "log.h"
#include "pty.h"

namespace matchlock::guest_agent {

using guest_protocol::FrameType;
using guest_protocol::StreamFd;

namespace {
// Stdin bytes accepted beyond the credit we granted are a host bug; cap them anyway.
constexpr size_t kMaxPendingStdin = 2 * guest_protocol::kInitialCredit;
// Ctrl-D: on a tty in canonical mode it ends input when typed at the start of a line. We send it
// once on stdin EOF; the agent cannot close just the input side of a pty.
constexpr char kTtyEndOfFile = 0x04;
}  // namespace

ExecSession::ExecSession(uint32_t stream, SpawnedProcess process, FrameSink& sink)
    : stream_(stream), pid_(process.pid), tty_(process.tty), sink_(sink) {
  outputs_[0].fd = std::move(process.stdout_reader);
  outputs_[0].which = guest_protocol::kStdout;
  outputs_[1].fd = std::move(process.stderr_reader);
  outputs_[1].which = guest_protocol::kStderr;
  // With a tty there is no stderr stream: its EOF goes out together with stdout's.
  if (tty_) outputs_[1].eof_sent = true;
  stdin_fd_ = std::move(process.stdin_writer);
}

void ExecSession::collect_poll_requests(std::vector<PollRequest>& out) const {
  for (size_t i = 0; i < outputs_.size(); ++i) {
    const Output& output = outputs_[i];
    if (output.fd && !output.eof_sent && output.credit > 0) {
      out.push_back({output.fd.get(), POLLIN, i == 0 ? Slot::kStdout : Slot::kStderr});
    }
  }
  if (stdin_fd_ && !stdin_pending_.empty()) out.push_back({stdin_fd_.get(), POLLOUT, Slot::kStdin});
  if (cancel_timer_) out.push_back({cancel_timer_.get(), POLLIN, Slot::kCancelTimer});
}

void ExecSession::on_poll_ready(Slot slot, short revents) {
  switch (slot) {
    case Slot::kStdout:
      pump_output(outputs_[0], reaped_);
      break;
    case Slot::kStderr:
      pump_output(outputs_[1], reaped_);
      break;
    case Slot::kStdin:
      flush_stdin();
      break;
    case Slot::kCancelTimer: {
      uint64_t expirations;
      ssize_t ignored = ::read(cancel_timer_.get(), &expirations, sizeof expirations);
      (void)ignored;
      cancel_timer_.reset();
      send_signal(SIGKILL, true);
      break;
    }
  }
  maybe_send_exit();
}

// Reads at most one chunk per wake-up while the process runs (fairness between sessions). Once
// it has exited, drains until the pipe is empty: a background grandchild may hold the write end
// open forever, so "empty after exit" counts as EOF.
void ExecSession::pump_output(Output& output, bool until_empty) {
  char buf[guest_protocol::kMaxDataChunk];
  while (output.fd && !output.eof_sent && output.credit > 0) {
    size_t want = std::min<uint64_t>(sizeof buf, output.credit);
    ssize_t n = ::read(output.fd.get(), buf, want);
    if (n > 0) {
      output.credit -= static_cast<uint64_t>(n);
      sink_.send(FrameType::kData, stream_,
                 guest_protocol::data_payload(output.which,
                                              std::string_view(buf, static_cast<size_t>(n))));
      if (!until_empty) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN && !reaped_) return;
    // EOF, EAGAIN after exit, or EIO from a pty master whose slave side is gone.
    send_output_eof(output);
  }
}

void ExecSession::send_output_eof(Output& output) {
  output.eof_sent = true;
  output.fd.reset();
  sink_.send(FrameType::kEof, stream_, guest_protocol::fd_payload(output.which));
  if (tty_ && output.which == guest_protocol::kStdout) {
    sink_.send(FrameType::kEof, stream_, guest_protocol::fd_payload(guest_protocol::kStderr));
  }
}

void ExecSession::on_stdin_data(std::string_view bytes) {
  if (!stdin_fd_ || stdin_eof_requested_ ||
      stdin_pending_.size() + bytes.size() > kMaxPendingStdin) {
    // Nobody will read these bytes; hand the credit back so the host never stalls on them.
    if (!bytes.empty()) {
      sink_.send(FrameType::kCredit, stream_,
                 guest_protocol::credit_payload(guest_protocol::kStdin,
                                                static_cast<uint32_t>(bytes.size())));
    }
    return;
  }
  stdin_pending_.append(bytes);
  flush_stdin();
}

void ExecSession::on_stdin_eof() {
  stdin_eof_requested_ = true;
  flush_stdin();
}

void ExecSession::flush_stdin() {
  uint64_t written = 0;
  while (stdin_fd_ && !stdin_pending_.empty()) {
    ssize_t n = ::write(stdin_fd_.get(), stdin_pending_.data(), stdin_pending_.size());
    if (n > 0) {
      stdin_pending_.erase(0, static_cast<size_t>(n));
      written += static_cast<uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    // EPIPE and friends: the process stopped reading; what is left is discarded.
    written += stdin_pending_.size();
    stdin_pending_.clear();
    close_stdin();
  }
  if (written > 0) {
    sink_.send(
        FrameType::kCredit, stream_,
        guest_protocol::credit_payload(guest_protocol::kStdin, static_cast<uint32_t>(written)));
  }
  if (stdin_fd_ && stdin_pending_.empty() && stdin_eof_requested_) {
    if (tty_) {
      ssize_t ignored = ::write(stdin_fd_.get(), &kTtyEndOfFile, 1);
      (void)ignored;
    }
    close_stdin();
  }
}

void ExecSession::close_stdin() {
  stdin_fd_.reset();
}

void ExecSession::on_credit(StreamFd fd, uint32_t bytes) {
  for (Output& output : outputs_) {
    if (output.which != fd) continue;
    // Saturate: a misbehaving host cannot overflow the counter.
    output.credit = std::min<uint64_t>(output.credit + bytes, uint64_t{1} << 40);
    if (reaped_) pump_output(output, true);
  }
  maybe_send_exit();
}

void ExecSession::on_resize(uint16_t rows, uint16_t cols) {
  if (tty_ && outputs_[0].fd) set_window_size(outputs_[0].fd.get(), rows, cols);
}

// On a tty the shell forwards signals to its jobs itself, so SIGNAL goes to the process alone.
void ExecSession::on_signal(int signo) {
  send_signal(signo, !tty_);
}

void ExecSession::on_cancel(uint32_t grace_ms) {
  if (reaped_) return;
  send_signal(SIGTERM, true);
  if (grace_ms == 0) {
    send_signal(SIGKILL, true);
    return;
  }
  cancel_timer_.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!cancel_timer_) {
    log_errno("timerfd_create");
    send_signal(SIGKILL, true);
    return;
  }
  itimerspec when{};
  when.it_value.tv_sec = grace_ms / 1000;
  when.it_value.tv_nsec = static_cast<long>(grace_ms % 1000) * 1'000'000;
  ::timerfd_settime(cancel_timer_.get(), 0, &when, nullptr);
}

void ExecSession::send_signal(int signo, bool whole_group) {
  // Once reaped, the pid (and its group id) may belong to someone else.
  if (reaped_ || signo <= 0 || signo >= NSIG) return;
  // The process leads its own group (pipes: setpgid; tty: setsid), so -pid is that group.
  if (whole_group) ::kill(-pid_, signo);
  ::kill(pid_, signo);
}

void ExecSession::on_reaped(int wait_status) {
  reaped_ = true;
  exit_code_ = WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
  cancel_timer_.reset();
  for (Output& output : outputs_) pump_output(output, true);
  maybe_send_exit();
}

void ExecSession::maybe_send_exit() {
  if (exit_sent_ || !reaped_) return;
  if (!outputs_[0].eof_sent || !outputs_[1].eof_sent) return;
  exit_sent_ = true;
  stdin_fd_.reset();
  sink_.send(FrameType::kExit, stream_, guest_protocol::i32_payload(exit_code_));
}

}  // namespace matchlock::guest_agent
