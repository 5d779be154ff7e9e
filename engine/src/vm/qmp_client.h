// A QMP (QEMU Machine Protocol) client on a pre-connected socket: greeting, capability
// negotiation, then commands answered in order. Used to query status and to stop the VM.
#pragma once

#include <uv.h>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/unique_fd.h"
#include "core/uv.h"

namespace matchlock::vm {

// What `query-status` reports: whether the guest CPUs run, and QEMU's run state by name
// ("running", "paused", "prelaunch", ...).
struct VmStatus {
  bool running = false;
  std::string status = "unknown";
};

// Parses the "return" object of query-status. Anything missing or malformed reads as not
// running, so a confused QEMU fails a boot rather than passing it.
VmStatus parse_query_status(std::string_view json);

class QmpClient {
 public:
  // `on_ready` fires once capabilities are negotiated (or with an error if QMP failed).
  QmpClient(uv_loop_t* loop, UniqueFd socket, std::function<void(Status)> on_ready);
  ~QmpClient();

  // Sends {"execute": command}; `done` receives the raw JSON of "return" or an error.
  void execute(const std::string& command, std::function<void(Result<std::string>)> done);
  // query-status, parsed.
  void query_status(std::function<void(Result<VmStatus>)> done);
  bool ready() const { return ready_; }

 private:
  void on_read(ssize_t n, const uv_buf_t* buf);
  void on_message(const std::string& line);
  void fail_all(const Error& e);

  uv::Handle<uv_pipe_t> pipe_;
  std::string inbuf_;
  bool greeted_ = false;
  bool ready_ = false;
  std::function<void(Status)> on_ready_;
  std::deque<std::function<void(Result<std::string>)>> pending_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace matchlock::vm
