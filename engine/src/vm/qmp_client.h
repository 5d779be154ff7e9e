// A QMP (QEMU Machine Protocol) client on a pre-connected socket: greeting, capability
// negotiation, then commands answered in order, and asynchronous events (MIGRATION, STOP, ...)
// handed to whoever subscribed. Used to query status, stop the VM and migrate it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
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

// One asynchronous QMP event: its name ("MIGRATION") and the raw JSON of its "data" ("{}" when
// it has none).
struct QmpEvent {
  std::string name;
  std::string data = "{}";
};

class QmpClient {
 public:
  // `on_ready` fires once capabilities are negotiated (or with an error if QMP failed).
  QmpClient(uv_loop_t* loop, UniqueFd socket, std::function<void(Status)> on_ready);
  ~QmpClient();

  using Reply = std::function<void(Result<std::string>)>;
  // Each event in arrival order; after the connection ends, one last call with its error.
  using EventHandler = std::function<void(Result<QmpEvent>)>;

  // Sends {"execute": command}; `done` receives the raw JSON of "return" or an error.
  void execute(const std::string& command, Reply done);
  // The same with {"arguments": arguments}; `arguments_json` must be a JSON object (anything
  // else fails `done` without sending).
  void execute(const std::string& command, const std::string& arguments_json, Reply done);
  // Events go to `handler` until unsubscribe(id). Handlers may (un)subscribe from inside.
  uint64_t subscribe(EventHandler handler);
  void unsubscribe(uint64_t id);
  // Reads whatever QEMU has already written to the socket, without waiting, and handles it
  // (events reach their subscribers) before returning. For ordering: an event QEMU emitted
  // before some guest bytes reached another socket is handled before those bytes are.
  void read_pending_now();
  // query-status, parsed.
  void query_status(std::function<void(Result<VmStatus>)> done);
  bool ready() const { return ready_; }
  // Expires when this client is destroyed (for work that outlives a callback, e.g. a timer).
  std::weak_ptr<bool> lifetime() const { return alive_; }
  uv_loop_t* loop() const { return loop_; }

 private:
  void on_read(ssize_t n, const uv_buf_t* buf);
  void on_message(const std::string& line);
  void fail_all(const Error& e);
  void send(const std::string& line, Reply done);
  void deliver(Result<QmpEvent> event);

  uv_loop_t* loop_;
  uv::Handle<uv_pipe_t> pipe_;
  std::string inbuf_;
  bool greeted_ = false;
  bool ready_ = false;
  std::function<void(Status)> on_ready_;
  std::deque<Reply> pending_;
  std::map<uint64_t, EventHandler> subscribers_;
  uint64_t next_subscriber_ = 1;
  bool ended_ = false;  // the connection is gone (subscribers have been told)
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace matchlock::vm
