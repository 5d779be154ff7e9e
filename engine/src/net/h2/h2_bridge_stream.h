// The state of one guest stream in the HTTP/2 bridge: its exchange, where each direction stands,
// and the body bytes held back while policy decides. Plain data; H2ExchangeBridge drives it.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/h2/body_filter_chain.h"
#include "net/h2/h2_types.h"
#include "net/proxy/exchange_policy.h"

namespace matchlock::net::h2 {

class H2ExchangeBridge;

// Where the request (guest -> upstream) stands.
enum class RequestPhase {
  kAwaitingDecision,  // on_request pending: body held unacknowledged (the window bounds it)
  kBufferingBody,     // rewrite_body asked for the whole body: held, acknowledged, bounded
  kForwarding,        // streaming to the upstream stream
  kDiscarding,        // answered by the engine or gone upstream: body acknowledged and dropped
};

// Where the response (upstream -> guest) stands.
enum class ResponsePhase {
  kAwaitingHead,      // nothing from upstream yet
  kAwaitingDecision,  // on_response pending: body held unacknowledged (the window bounds it)
  kBufferingWhole,    // a filter needs the whole body: held, acknowledged, bounded
  kStreaming,         // head sent to the guest, body flowing through the filters
  kEnded,             // the guest's response is complete (forwarded or made up by the engine)
};

struct BridgeStream {
  H2ExchangeBridge* bridge = nullptr;  // the owner; outlives the stream (it holds the map)
  StreamId guest_id = 0;
  StreamId upstream_id = 0;  // 0 until sent upstream, and again once that stream closed
  std::string authority;     // as the guest sent it, for the upstream request
  std::shared_ptr<proxy::Exchange> exchange;
  proxy::ExchangeSummary summary;
  bool finished = false;   // on_finished was called
  size_t whole_bytes = 0;  // of the body held whole (one direction at a time), counted per bridge

  RequestPhase request = RequestPhase::kAwaitingDecision;
  std::string request_body;       // held (awaiting decision, or whole for rewrite_body)
  size_t request_unconsumed = 0;  // guest body bytes not yet acknowledged to the guest
  bool request_ended = false;
  std::vector<policy::HeaderField> request_trailers;
  std::function<std::optional<proxy::Reply>(std::string&)> rewrite_body;

  ResponsePhase response = ResponsePhase::kAwaitingHead;
  std::string response_body;       // held (awaiting decision, or whole for a filter)
  size_t response_unconsumed = 0;  // upstream body bytes not yet acknowledged upstream
  bool response_ended = false;
  std::vector<policy::HeaderField> response_trailers;
  BodyFilterChain filters;
};

}  // namespace matchlock::net::h2
