// Where protocol lines go. The server only sees this interface, so tests capture lines and a
// later control socket can reuse the same server.
#pragma once

#include <functional>
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

}  // namespace matchlock::rpc
