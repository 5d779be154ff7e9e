// Proxies one intercepted HTTP/2 connection: each guest stream becomes a proxy::Exchange that
// ExchangePolicy decides on, then a stream on one upstream HTTP/2 connection (multiplexed:
// one upstream connection per guest connection), with the response head decided on too and
// its body streamed through the policy's BodyFilters. Bytes come and go through H2Transport;
// the bridge never sees a socket or TLS.
//
// THREAT MODEL: both peers are hostile (see h2_server_session.h, h2_client_session.h). Body
// bytes are acknowledged to a sender only as the other side takes them (a queue above
// kForwardHighWaterBytes stops acknowledging, so the sender's window fills), held bodies are
// bounded by the windows while policy decides, and bodies buffered whole are bounded per
// stream and per connection (413 for a request, 502 for a response). A stream naming a host
// other than the connection's TLS server name gets 421 (no domain fronting through a shared
// upstream connection).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "net/h2/h2_bridge_stream.h"
#include "net/h2/h2_client_session.h"
#include "net/h2/h2_server_session.h"
#include "net/h2/h2_transport.h"
#include "net/policy/ip_address.h"

namespace matchlock::net::h2 {

// Above this many bytes queued for one stream's receiver, its sender's bytes go unacknowledged.
constexpr size_t kForwardHighWaterBytes = 64 * 1024;
// A body held whole (rewrite_body, a whole-body filter): per stream, and all streams together.
constexpr size_t kMaxWholeBodyBytes = 16 * 1024 * 1024;
constexpr size_t kMaxWholeBodiesPerConnectionBytes = 64 * 1024 * 1024;

// What the proxy knows about the guest's connection, copied into every exchange's Request.
struct BridgeContext {
  std::string sni;  // normalized; "" when the ClientHello named none
  // policy::Request::dns_name for a stream's host: the name whose DNS answer gave the guest
  // `destination`, else "" (MitmServices::dns_name_for). Asked per stream, as HTTP/1.1 asks per
  // request, so secret injection sees the same sni / dns_name / host agreement on both. Unset: "".
  std::function<std::string(const std::string& host)> dns_name_for;
  std::optional<policy::IpAddress> destination;
  uint16_t port = 443;
  bool tls = true;                             // false for prior-knowledge h2c
  std::function<uint64_t()> next_exchange_id;  // per sandbox, increasing
};

class H2ExchangeBridge {
 public:
  // `policy`, `guest` and `upstream` must outlive the bridge. Queues both sides' SETTINGS.
  H2ExchangeBridge(proxy::ExchangePolicy& policy, BridgeContext context, H2Transport& guest,
                   H2Transport& upstream, const H2Limits& limits = {});
  // Exchanges still open are finished ("connection closed").
  ~H2ExchangeBridge();
  H2ExchangeBridge(const H2ExchangeBridge&) = delete;
  H2ExchangeBridge& operator=(const H2ExchangeBridge&) = delete;

  // What the proxy reports: bytes read (decrypted), a transport that drained, a closed one.
  void on_guest_bytes(std::string_view bytes);
  void on_upstream_bytes(std::string_view bytes);
  void on_guest_writable();
  void on_upstream_writable();
  void on_guest_closed();
  void on_upstream_closed();

  // Both connections are done and closed: the proxy may drop the bridge.
  bool is_finished() const { return guest_closed_ && upstream_closed_; }

 private:
  friend class BridgeEntry;
  using StreamPtr = std::shared_ptr<BridgeStream>;

  // Guest side and requests (h2_exchange_bridge.cpp).
  void on_request_head(StreamId guest_id, RequestHead head);
  void on_request_data(StreamId guest_id, std::string_view data);
  void on_request_end(StreamId guest_id, std::vector<policy::HeaderField> trailers);
  void on_guest_stream_closed(StreamId guest_id, uint32_t error_code);
  void on_request_decided(const StreamPtr& stream, proxy::RequestOutcome outcome);
  void finish_rewrite(const StreamPtr& stream);
  void start_upstream(const StreamPtr& stream);
  void settle_request_window(const StreamPtr& stream);
  void reply(const StreamPtr& stream, const proxy::Reply& reply);
  void finish_exchange(const StreamPtr& stream, uint32_t error_code);

  // Upstream side and responses (h2_exchange_bridge_response.cpp).
  void on_response_head(StreamId upstream_id, ResponseHead head);
  void on_response_data(StreamId upstream_id, std::string_view data);
  void on_response_end(StreamId upstream_id, std::vector<policy::HeaderField> trailers);
  void on_upstream_stream_closed(StreamId upstream_id, uint32_t error_code);
  void on_response_decided(const StreamPtr& stream, proxy::ResponseOutcome outcome);
  void send_whole_response(const StreamPtr& stream);
  void stream_response(const StreamPtr& stream, std::string_view data);
  void end_streamed_response(const StreamPtr& stream);
  void settle_response_window(const StreamPtr& stream);
  void fail_upstream_stream(const StreamPtr& stream, const std::string& error);

  // Bookkeeping (h2_exchange_bridge.cpp).
  bool hold_whole(BridgeStream& stream, std::string& into, std::string_view piece);
  void release_whole(BridgeStream& stream);
  StreamPtr guest_stream(StreamId guest_id) const;
  StreamPtr upstream_stream(StreamId upstream_id) const;

  // Connections (h2_exchange_bridge_connections.cpp).
  void flush();
  void close_guest_side();
  void close_upstream_side();

  proxy::ExchangePolicy& policy_;
  BridgeContext context_;
  H2Transport& guest_transport_;
  H2Transport& upstream_transport_;
  H2ServerSession guest_;
  H2ClientSession upstream_;
  std::unordered_map<StreamId, StreamPtr> streams_;           // by guest stream id
  std::unordered_map<StreamId, StreamId> guest_by_upstream_;  // upstream id -> guest id
  size_t whole_bytes_ = 0;  // held in kBufferingBody / kBufferingWhole, all streams
  uint64_t local_exchange_ids_ = 0;
  int depth_ = 0;  // entry points on the stack: flush only when the outermost returns
  bool guest_closed_ = false;
  bool upstream_closed_ = false;
};

// Marks a call into the bridge from outside (the proxy, a policy answer): bytes are framed and
// sent only when the outermost one returns, never from inside an nghttp2 callback.
class BridgeEntry {
 public:
  explicit BridgeEntry(H2ExchangeBridge& bridge) : bridge_(bridge) { ++bridge_.depth_; }
  ~BridgeEntry() {
    if (--bridge_.depth_ == 0) bridge_.flush();
  }
  BridgeEntry(const BridgeEntry&) = delete;
  BridgeEntry& operator=(const BridgeEntry&) = delete;

 private:
  H2ExchangeBridge& bridge_;
};

}  // namespace matchlock::net::h2
