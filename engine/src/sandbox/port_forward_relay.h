// One accepted TCP client of a port-forward listener, relayed to one guest port stream.
// The back-pressure and EOF rules are described in sandbox/port_forward.h.
#pragma once

#include <uv.h>

#include <functional>
#include <memory>
#include <string_view>

#include "core/result.h"
#include "core/uv.h"
#include "guest_client/port_stream.h"

namespace matchlock::sandbox {

// Opens one port stream into the guest; may return nullptr when there is no guest to reach.
using GuestPortOpener = std::function<std::shared_ptr<guest_client::PortHandle>(
    const guest_client::PortTarget& target, guest_client::PortEvents events)>;

class PortForwardRelay : public std::enable_shared_from_this<PortForwardRelay> {
 public:
  explicit PortForwardRelay(uv_loop_t* loop);
  PortForwardRelay(const PortForwardRelay&) = delete;
  PortForwardRelay& operator=(const PortForwardRelay&) = delete;

  // The handle to pass to uv_accept.
  uv_stream_t* client() { return client_.stream(); }
  // Opens the guest stream and starts relaying; `on_done` runs once when the relay is over
  // (not after abort()).
  void start(const GuestPortOpener& open, const guest_client::PortTarget& target,
             std::function<void()> on_done);
  // Resets the client and closes the guest stream, without calling on_done.
  void abort();

 private:
  void on_client_read(ssize_t n, const uv_buf_t* buf);
  void resume_client_reads();
  void on_guest_data(std::string_view bytes, std::function<void()> consumed);
  void on_guest_eof();
  void on_guest_closed(const Status& status);
  void on_client_write_shut();
  // Ends the relay: `reset` sends the client an RST instead of a FIN.
  void finish(bool reset);
  void close_both(bool reset);

  uv::Handle<uv_tcp_t> client_;
  std::shared_ptr<guest_client::PortHandle> port_;
  std::function<void()> on_done_;
  std::unique_ptr<char[]> read_buf_;
  bool reading_ = false;
  bool client_eof_ = false;         // the client shut down its write side
  bool guest_eof_ = false;          // the guest's server did; the client's write side follows
  bool client_write_shut_ = false;  // ... and has been shut down, after every queued write
  bool guest_closed_ = false;
  bool done_ = false;
};

}  // namespace matchlock::sandbox
