// One exec stream: a running process, its stdio, flow control and its exit.
//
// Output is read only while the host has granted credit for that fd, so a slow host stalls the
// process through its full pipe instead of growing our buffers. Stdin is written as the process
// consumes it, and credit goes back to the host only for bytes actually written.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "channel.h"
#include "core/unique_fd.h"
#include "process_spawn.h"

namespace matchlock::guest_agent {

class ExecSession {
 public:
  ExecSession(uint32_t stream, SpawnedProcess process, FrameSink& sink);

  uint32_t stream() const { return stream_; }
  pid_t pid() const { return pid_; }
  bool finished() const { return exit_sent_; }

  // The fds to poll and their events (fd < 0 entries are skipped by poll).
  enum class Slot { kStdout, kStderr, kStdin, kCancelTimer };
  struct PollRequest {
    int fd;
    short events;
    Slot slot;
  };
  void collect_poll_requests(std::vector<PollRequest>& out) const;
  void on_poll_ready(Slot slot, short revents);

  // Frames from the host.
  void on_stdin_data(std::string_view bytes);
  void on_stdin_eof();
  void on_credit(guest_protocol::StreamFd fd, uint32_t bytes);
  void on_resize(uint16_t rows, uint16_t cols);
  void on_signal(int signo);
  void on_cancel(uint32_t grace_ms);

  // The main process was reaped with this wait status.
  void on_reaped(int wait_status);

 private:
  struct Output {
    UniqueFd fd;
    guest_protocol::StreamFd which;
    uint64_t credit = guest_protocol::kInitialCredit;
    bool eof_sent = false;
  };

  void pump_output(Output& output, bool until_empty);
  void send_output_eof(Output& output);
  void flush_stdin();
  void close_stdin();
  void send_signal(int signo, bool whole_group);
  void maybe_send_exit();

  uint32_t stream_;
  pid_t pid_;
  bool tty_;
  FrameSink& sink_;
  std::array<Output, 2> outputs_;
  UniqueFd stdin_fd_;
  std::string stdin_pending_;
  bool stdin_eof_requested_ = false;
  UniqueFd cancel_timer_;
  bool reaped_ = false;
  int exit_code_ = 0;
  bool exit_sent_ = false;
};

}  // namespace matchlock::guest_agent
