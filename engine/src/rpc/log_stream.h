// One rpc `log_stream` (docs/rpc.md): sends the VM log (rpc/vm_log.h) that exists,
// then the bytes appended to it as they arrive, until stopped. Event-driven: a libuv fs event
// (inotify) on the sandbox directory wakes it, never a polling timer. One chunk is in flight
// at a time (the next is read once the client's output took the previous one), so a slow
// client holds back the reads instead of growing the engine's memory.
#pragma once

#include <uv.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/uv.h"
#include "rpc/vm_log.h"

namespace matchlock::rpc {

class LogStream : public std::enable_shared_from_this<LogStream> {
 public:
  // Sends one chunk; `written` runs once the output took it (possibly before send returns).
  using SendFn = std::function<void(std::string bytes, std::function<void()> written)>;

  LogStream(uv_loop_t* loop, std::filesystem::path dir, std::optional<uint64_t> id, SendFn send);
  ~LogStream();
  LogStream(const LogStream&) = delete;
  LogStream& operator=(const LogStream&) = delete;

  // Starts watching, then sends what the log holds already.
  Status start();
  // No more chunks after this; the watch is released.
  void stop();
  bool stopped() const { return stopped_; }
  std::optional<uint64_t> id() const { return id_; }

 private:
  void pump();
  std::vector<uint64_t> file_sizes() const;

  uv_loop_t* loop_;
  std::filesystem::path dir_;
  std::vector<std::string> names_;
  std::optional<uint64_t> id_;
  SendFn send_;
  LogCursor cursor_;
  uv::Handle<uv_fs_event_t> watch_;
  bool stopped_ = false;
  bool pumping_ = false;  // inside pump(): a synchronous `written` must not recurse
  bool in_flight_ = false;
};

}  // namespace matchlock::rpc
