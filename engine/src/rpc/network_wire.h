// The wire form of network `event` notifications (docs/rpc.md, docs/network.md).
//
// What the guest sent, never what went upstream: the URL is built from the guest's own path
// with its query string and fragment removed (a query is where tokens travel; after secret
// injection the upstream target may even hold a secret's value). Headers are never included.
#pragma once

#include <cstdint>
#include <string>

#include "sandbox/sandbox_event.h"

namespace matchlock::rpc {

// {"type":"network","timestamp":<unix ms>,"network":{"method","url","host","status_code",
// "request_bytes","response_bytes","duration_ms","blocked","block_reason"?}} as one line;
// block_reason only when blocked.
std::string network_event_line(const sandbox::NetworkEvent& event, int64_t unix_ms);

}  // namespace matchlock::rpc
