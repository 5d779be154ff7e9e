// Where protocol lines go. The server only sees this interface, so tests capture lines and a
// later control socket can reuse the same server.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string>

namespace matchlock::rpc {

class Output {
 public:
  virtual ~Output() = default;
  // Queues one complete line (ending in "\n"). Lines are written whole and in call order.
  // `done(ok)` runs once the line reached the OS (false: the write failed); it may run before
  // write_line returns.
  virtual void write_line(std::string line, std::function<void(bool ok)> done = {}) = 0;
  // Runs `done` once every line queued so far has been written or has failed.
  virtual void flush(std::function<void()> done) = 0;
};

// Output on a file descriptor (stdout): a libuv stream for pipes, sockets and ttys; plain
// blocking writes for regular files and anything libuv cannot watch.
std::shared_ptr<Output> open_fd_output(uv_loop_t* loop, int fd);

}  // namespace matchlock::rpc
