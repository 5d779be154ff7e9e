// The HTTP/1.1 proxy session of one guest connection (plaintext: from TLS terminated by the
// endpoint, or sniffed plain HTTP). For every request on the connection: an Exchange goes
// through the ExchangePolicy; then the engine answers (Reply) or the request goes to the
// upstream, the exact checked address (or a RouteTo), re-serialized with the transformed head
// and its body streamed (or buffered for a body rewrite); the response head goes through the
// policy and the body through its BodyFilters, streamed as it arrives. Keep-alive re-runs the
// policy for every request; after a 101 the two sides are spliced raw (WebSocket).
//
// THREAT MODEL: the guest is hostile. Requests are read by http1::RequestReader (smuggling
// defences, bounded heads); the guest's window is credited only as input is consumed
// (buffered_input()), so a guest that sends faster than the upstream takes is slowed, not
// buffered; bodies the proxy must hold whole are capped (kMaxBufferedBody: 413, or 502 for a
// response). A failure ends this connection only.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/http1/request_reader.h"
#include "net/http1/response_reader.h"
#include "net/proxy/guest_channel.h"
#include "net/proxy/mitm_services.h"
#include "net/proxy/upstream_connection.h"

namespace matchlock::net::proxy {

// Bodies held whole (a request body rewrite, a response filter that needs the whole body).
constexpr size_t kMaxBufferedBody = 16 * 1024 * 1024;

// What the connection itself knows, for every Exchange on it.
struct ConnectionFacts {
  Endpoint destination;  // the address and port the guest dialled
  bool tls = false;
  std::string sni;  // normalized ClientHello SNI ("" without one, or plain HTTP)
};

class Http1Session final : public GuestProtocolSession, private UpstreamHandler {
 public:
  // `services` and `guest` must outlive the session. `preconnected`: an idle upstream connection
  // already dialled for this guest connection (EarlyUpstream, settled on HTTP/1.1), used for
  // the first request when that request's target is the one it was dialled for.
  Http1Session(uv_loop_t* loop, MitmServices& services, ConnectionFacts facts, GuestChannel& guest,
               std::unique_ptr<UpstreamConnection> preconnected = nullptr);
  ~Http1Session() override;

  void on_guest_data(std::string_view plaintext) override;
  void on_guest_eof() override;
  void on_guest_room() override;
  void on_guest_gone() override;
  size_t buffered_input() const override { return reader_.buffered(); }

 private:
  enum class RequestPhase { kNone, kAwaitPolicy, kStreaming, kBuffering, kDone };
  enum class ResponsePhase { kNone, kAwaitHead, kAwaitPolicy, kStreaming, kBuffering, kDone };
  enum class OutFraming { kNone, kContentLength, kChunked, kUntilClose };

  struct Active {
    std::shared_ptr<Exchange> exchange;
    http1::RequestHead head;
    RequestPhase request = RequestPhase::kNone;
    ResponsePhase response = ResponsePhase::kNone;
    std::function<std::optional<Reply>(std::string&)> rewrite_body;
    std::string held_body;  // kBuffering (request or response)
    std::vector<std::unique_ptr<policy::BodyFilter>> filters;
    http1::ResponseHead response_head;
    OutFraming out = OutFraming::kNone;
    bool response_head_sent = false;
    ExchangeSummary summary;
  };

  // Request side.
  void pump();
  void start_exchange(http1::RequestHead head);
  void on_request_outcome(RequestOutcome outcome);
  std::optional<UpstreamTarget> choose_target(Reply& refused);
  bool dispatch_upstream();
  void open_upstream(const UpstreamTarget& target);
  bool send_request_head(std::optional<uint64_t> fixed_length);
  void on_request_body(std::string body);
  void on_request_end();

  // Response side.
  void drain_response();
  void on_response_head(http1::ResponseHead head);
  void on_response_outcome(ResponseOutcome outcome);
  void on_response_body(std::string body);
  void on_response_end();
  void send_response_head(std::optional<uint64_t> fixed_length);
  void send_body_to_guest(std::string_view bytes);
  std::string filter(std::string bytes);
  std::string filter_end();
  void start_splice();
  void check_truncated_response();

  // Endings.
  void reply_and_close(const Reply& reply);
  void finish_exchange(std::string error = "");
  void abort_connection(const std::string& why);
  void close_after_flush();
  void retire_upstream();

  // UpstreamHandler.
  void on_upstream_ready() override;
  void on_upstream_data(std::string_view plaintext) override;
  void on_upstream_eof() override;
  void on_upstream_error(const std::string& why) override;
  void on_upstream_drained() override;

  uv_loop_t* loop_;
  MitmServices& services_;
  ConnectionFacts facts_;
  GuestChannel& guest_;
  http1::RequestReader reader_;
  http1::ResponseReader response_reader_;
  std::unique_ptr<UpstreamConnection> upstream_;
  std::optional<Active> active_;
  bool guest_eof_ = false;
  bool upstream_eof_ = false;
  bool closing_ = false;
  bool spliced_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace matchlock::net::proxy
