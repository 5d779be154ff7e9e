// An in-memory HTTP/2 proxy path for bridge tests:
//   guest (H2ClientSession) -> H2ExchangeBridge -> origin (H2ServerSession)
// with a scriptable ExchangePolicy and transports that are plain byte queues.
#pragma once

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/h2/h2_client_session.h"
#include "net/h2/h2_exchange_bridge.h"
#include "net/h2/h2_server_session.h"

namespace matchlock::net::h2::testing {

struct MemoryTransport : H2Transport {
  std::string outbox;
  bool closed = false;
  bool writable = true;
  void send(std::string bytes) override { outbox += bytes; }
  bool can_send() const override { return writable; }
  void close() override { closed = true; }
};

class UppercaseFilter : public policy::BodyFilter {
 public:
  explicit UppercaseFilter(bool whole = false) : whole_(whole) {}
  bool needs_whole_body() const override { return whole_; }
  std::string on_data(std::string_view chunk) override {
    std::string out(chunk);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
  }
  std::string on_end() override { return whole_ ? "!" : ""; }

 private:
  bool whole_;
};

// Paths decide: /blocked -> 403; /deferred -> answered when the test says; /rewrite -> body
// uppercased; /filtered, /whole -> response filters. Every allowed request gets x-injected.
struct TestPolicy : proxy::ExchangePolicy {
  std::vector<std::function<void()>> deferred;
  std::vector<proxy::ExchangeSummary> finished;
  std::vector<std::string> finished_targets;
  std::vector<uint64_t> exchange_ids;
  std::vector<policy::Request> requests;  // as the bridge built them, before any change

  void on_request(std::shared_ptr<proxy::Exchange> exchange,
                  std::function<void(proxy::RequestOutcome)> done) override {
    exchange_ids.push_back(exchange->request.exchange_id);
    requests.push_back(exchange->request);
    const std::string& target = exchange->request.target;
    proxy::RequestOutcome outcome;
    if (target == "/blocked") {
      outcome.reply = proxy::Reply{403, "blocked by test policy"};
      return done(std::move(outcome));
    }
    policy::set_header(exchange->request.headers, "X-Injected", "yes");
    if (target == "/rewrite") {
      outcome.rewrite_body = [](std::string& body) -> std::optional<proxy::Reply> {
        for (char& c : body) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        return std::nullopt;
      };
    }
    if (target == "/deferred") {
      deferred.push_back(
          [done, outcome = std::move(outcome)]() mutable { done(std::move(outcome)); });
      return;
    }
    done(std::move(outcome));
  }

  void on_response(std::shared_ptr<proxy::Exchange> exchange,
                   std::function<void(proxy::ResponseOutcome)> done) override {
    proxy::ResponseOutcome outcome;
    const std::string& target = exchange->request.target;
    if (target == "/filtered") outcome.body_filters.push_back(std::make_unique<UppercaseFilter>());
    if (target == "/whole") outcome.body_filters.push_back(std::make_unique<UppercaseFilter>(true));
    done(std::move(outcome));
  }

  void on_finished(const proxy::Exchange& exchange,
                   const proxy::ExchangeSummary& summary) override {
    finished.push_back(summary);
    finished_targets.push_back(exchange.request.target);
  }
};

// One side's view of its streams.
struct StreamLog {
  std::map<StreamId, int> status;
  std::map<StreamId, std::vector<policy::HeaderField>> heads;  // request or response fields
  std::map<StreamId, std::string> paths;
  std::map<StreamId, std::string> bodies;
  std::map<StreamId, std::vector<policy::HeaderField>> trailers;
  std::map<StreamId, bool> ended;
  std::map<StreamId, uint32_t> closed;
};

struct BridgeHarness {
  TestPolicy policy;
  MemoryTransport guest_transport;
  MemoryTransport upstream_transport;
  StreamLog guest_log;   // what the guest received
  StreamLog origin_log;  // what the origin received
  bool guest_consumes = true;
  // What the origin does with a complete request; default: 200 "hello".
  std::function<void(StreamId)> origin_handler;
  std::unique_ptr<H2ClientSession> guest;
  std::unique_ptr<H2ServerSession> origin;
  std::unique_ptr<H2ExchangeBridge> bridge;

  BridgeHarness() {
    guest = std::make_unique<H2ClientSession>(
        H2Limits{},
        ClientEvents{
            .on_response_head =
                [this](StreamId s, ResponseHead h) {
                  guest_log.status[s] = h.status;
                  guest_log.heads[s] = std::move(h.headers);
                },
            .on_response_data =
                [this](StreamId s, std::string_view d) {
                  guest_log.bodies[s] += d;
                  if (guest_consumes) guest->consume(s, d.size());
                },
            .on_response_end =
                [this](StreamId s, std::vector<policy::HeaderField> t) {
                  guest_log.ended[s] = true;
                  guest_log.trailers[s] = std::move(t);
                },
            .on_stream_closed = [this](StreamId s, uint32_t code) { guest_log.closed[s] = code; },
            .on_request_data_sent = {},
        });
    origin = std::make_unique<H2ServerSession>(
        H2Limits{},
        ServerEvents{
            .on_request_head =
                [this](StreamId s, RequestHead h) {
                  origin_log.paths[s] = h.path;
                  origin_log.heads[s] = std::move(h.headers);
                },
            .on_request_data =
                [this](StreamId s, std::string_view d) {
                  origin_log.bodies[s] += d;
                  origin->consume(s, d.size());
                },
            .on_request_end =
                [this](StreamId s, std::vector<policy::HeaderField> t) {
                  origin_log.ended[s] = true;
                  origin_log.trailers[s] = std::move(t);
                  if (origin_handler) return origin_handler(s);
                  (void)origin->submit_response(s, {200, {{"content-length", "5"}}}, true);
                  (void)origin->queue_data(s, "hello");
                  (void)origin->finish(s);
                },
            .on_stream_closed = [this](StreamId s, uint32_t code) { origin_log.closed[s] = code; },
            .on_response_data_sent = {},
        });
    BridgeContext context;
    context.sni = "example.com";
    context.port = 443;
    context.destination = policy::IpAddress::v4(192, 0, 2, 7);
    // As if a DNS answer had given the guest that address for example.com only.
    context.dns_name_for = [](const std::string& host) {
      return host == "example.com" ? host : std::string();
    };
    uint64_t next_id = 100;
    context.next_exchange_id = [next_id]() mutable { return ++next_id; };
    bridge = std::make_unique<H2ExchangeBridge>(policy, std::move(context), guest_transport,
                                                upstream_transport);
  }

  // Moves bytes every way until all four are quiet.
  void pump() {
    for (int round = 0; round < 1000; ++round) {
      bool moved = false;
      std::string bytes = guest->take_output();
      if (!bytes.empty() && !guest_transport.closed) {
        bridge->on_guest_bytes(bytes);
        moved = true;
      }
      if (!guest_transport.outbox.empty()) {
        std::string out = std::move(guest_transport.outbox);
        guest_transport.outbox.clear();
        (void)guest->feed(out);
        moved = true;
      }
      if (!upstream_transport.outbox.empty()) {
        std::string out = std::move(upstream_transport.outbox);
        upstream_transport.outbox.clear();
        (void)origin->feed(out);
        moved = true;
      }
      bytes = origin->take_output();
      if (!bytes.empty() && !upstream_transport.closed) {
        bridge->on_upstream_bytes(bytes);
        moved = true;
      }
      if (!moved) return;
    }
  }

  StreamId request(const std::string& method, const std::string& path, const std::string& body = "",
                   bool end = true) {
    RequestHead head{method, "https", "example.com", "", path, {{"user-agent", "test"}}};
    bool with_body = !body.empty() || !end;
    Result<StreamId> stream = guest->submit_request(head, with_body);
    if (!stream.ok()) return 0;
    if (!body.empty()) (void)guest->queue_data(*stream, body);
    if (with_body && end) (void)guest->finish(*stream);
    return *stream;
  }
};

inline std::string header_value(const std::vector<policy::HeaderField>& fields,
                                std::string_view name) {
  const policy::HeaderField* field = policy::find_header(fields, name);
  return field ? field->value : "";
}

}  // namespace matchlock::net::h2::testing
