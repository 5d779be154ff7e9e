// One host TCP socket dialled on the guest's behalf: connect, write, shutdown, read, and the
// two ways to let go (graceful close, or RST). Knows nothing of the guest or of policy.
// Completions reach the owner only while this object lives (a liveness token); after close()
// or reset() libuv still reports pending writes and shutdowns (UV_ECANCELED), as its owner may
// need to hear.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <vector>

#include "core/uv.h"
#include "net/stack/addresses.h"
#include "net/tcp/guest_stream.h"

namespace matchlock::net {

class UpstreamSocket {
 public:
  using Status = std::function<void(int status)>;
  using Room = std::function<size_t()>;
  using Read = std::function<void(ssize_t nread, const uv_buf_t* buf)>;

  // Starts connecting to `to`; the result goes to the handler set with on_connected(), always
  // on a later turn of the loop.
  static std::unique_ptr<UpstreamSocket> dial(uv_loop_t* loop, const Endpoint& to);
  ~UpstreamSocket();
  UpstreamSocket(const UpstreamSocket&) = delete;
  UpstreamSocket& operator=(const UpstreamSocket&) = delete;

  void on_connected(Status fn) { on_connected_ = std::move(fn); }
  const Endpoint& remote() const { return to_; }

  // Writes `bytes` (kept alive until libuv is done); `done` gets the libuv status. Returns the
  // synchronous error (then `done` never runs). Writes made in one turn of the loop go out as
  // one writev at its end (a guest's upload arrives one MSS-sized segment at a time, and a
  // syscall and a host TCP segment per MSS cost more CPU than the copy they would save).
  int write(GuestBytes bytes, Status done);
  // shutdown(SHUT_WR) after the queued writes; `done` runs whatever the status.
  int shutdown(std::function<void()> done);
  // Reads while `room` (asked before each read) is non-zero; a zero room makes libuv report
  // UV_ENOBUFS to `read`, which pauses.
  void start_reads(Room room, Read read);
  void stop_reads();

  void close();
  // RST upstream (SO_LINGER 0), as when the guest's side was reset.
  void reset();

 private:
  UpstreamSocket(uv_loop_t* loop, const Endpoint& to);
  void connected(int status);
  // Hands the writes gathered this turn to libuv; every other operation on the socket calls
  // it first, so the order of writes, shutdown and close is the order of the calls.
  void flush_writes();

  uv_loop_t* loop_;
  Endpoint to_;
  uv::Handle<uv_tcp_t> h_;
  bool open_ = false;  // connected and not closed: only then does a reset linger
  Status on_connected_;
  struct Batch;
  std::unique_ptr<Batch> batch_;        // writes of this turn, not yet given to libuv
  uv::Handle<uv_check_t> flush_check_;  // runs after this turn's I/O callbacks
  Room room_;
  Read read_;
  std::shared_ptr<UpstreamSocket*> alive_;
};

}  // namespace matchlock::net
