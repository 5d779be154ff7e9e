// Decides one intercepted guest TCP stream from its bytes: classify the first bytes (TLS SNI,
// HTTP Host, raw), run the gate, then keep checking every HTTP request on the connection by
// its own Host. Pure: no sockets, no lwIP; the connection executes the actions it returns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "net/policy_hook.h"
#include "net/sniff/http_request_splitter.h"

namespace matchlock::net {

struct StreamAction {
  std::string forward;                    // bytes for the upstream, in order
  bool dial = false;                      // first allowed bytes: dial the destination now
  std::optional<std::string> close_with;  // reply to the guest, then close (403/400)
  bool reset = false;                     // reset the guest connection (blocked TLS or raw)
};

class StreamGate {
 public:
  StreamGate(PolicyHook& hook, uint32_t dst, uint16_t dport)
      : hook_(hook), dst_(dst), dport_(dport) {}

  StreamAction feed(std::string_view bytes);
  // The guest sent nothing for the sniff window: a server-speaks-first protocol, so raw.
  StreamAction sniff_timeout();
  bool deciding() const { return state_ == State::kSniffing; }
  bool finished() const { return state_ == State::kClosed; }

 private:
  enum class State { kSniffing, kPassthrough, kHttp, kClosed };
  StreamAction decide_connection(policy::Protocol protocol, const std::string& host);
  StreamAction run_http(std::string_view bytes);
  std::optional<std::string> check_dial(bool http, const std::string& host, StreamAction& a);
  policy::Request base_request(policy::Protocol protocol, const std::string& host) const;

  PolicyHook& hook_;
  uint32_t dst_;
  uint16_t dport_;
  State state_ = State::kSniffing;
  std::string sniffed_;
  sniff::HttpRequestSplitter splitter_;
  bool dialled_ = false;
};

// "HTTP/1.1 403 Forbidden" with a short body naming the host.
std::string forbidden_response(const std::string& host);

}  // namespace matchlock::net
