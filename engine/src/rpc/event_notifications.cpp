// rpc `event` notifications (docs/rpc.md): what the sandbox reports - guest file
// operations and network exchanges - as lines to this session's client, bounded per client.
#include <chrono>
#include <type_traits>

#include "core/log.h"
#include "rpc/file_wire.h"
#include "rpc/network_wire.h"
#include "rpc/session.h"

namespace matchlock::rpc {

void Session::on_sandbox_event(const sandbox::SandboxEvent& event) {
  if (!serving() || client_gone()) return;
  if (events_in_flight_ >= kMaxEventsInFlight) {
    if (events_dropped_++ == 0) log::warn("rpc: client too slow for events; dropping some");
    return;
  }
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
  std::string line = std::visit(
      [ms](const auto& e) {
        if constexpr (std::is_same_v<std::decay_t<decltype(e)>, sandbox::FileEvent>) {
          return file_event_line(e.op, e.error, ms);
        } else {
          return network_event_line(e, ms);
        }
      },
      event);
  ++events_in_flight_;
  std::weak_ptr<Session> weak = shared_from_this();
  send(std::move(line), [weak] {
    if (auto self = weak.lock()) --self->events_in_flight_;
  });
}

}  // namespace matchlock::rpc
