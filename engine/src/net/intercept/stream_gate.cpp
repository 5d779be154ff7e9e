#include "net/intercept/stream_gate.h"

#include "core/log.h"
#include "net/sniff/classify.h"
#include "net/stack/addresses.h"

namespace matchlock::net {
namespace {

std::string plain_response(const std::string& status, const std::string& body) {
  return "HTTP/1.1 " + status +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

std::string forbidden_response(const std::string& host) {
  return plain_response(
      "403 Forbidden",
      "matchlock: access to " + (host.empty() ? "this address" : host) + " is blocked by policy\n");
}

policy::Request StreamGate::base_request(policy::Protocol protocol, const std::string& host) const {
  policy::Request r;
  r.protocol = protocol;
  r.host = host;
  r.destination =
      policy::IpAddress::v4(dst_ >> 24, (dst_ >> 16) & 0xff, (dst_ >> 8) & 0xff, dst_ & 0xff);
  r.port = dport_;
  return r;
}

StreamAction StreamGate::feed(std::string_view bytes) {
  switch (state_) {
    case State::kClosed:
      return {};
    case State::kPassthrough: {
      StreamAction a;
      a.forward.assign(bytes);
      return a;
    }
    case State::kHttp:
      return run_http(bytes);
    case State::kSniffing:
      break;
  }
  sniffed_.append(bytes);
  auto c = sniff::classify(sniffed_);
  switch (c.kind) {
    case sniff::TrafficKind::kNeedMore:
      if (sniffed_.size() < sniff::kMaxSniffBytes) return {};
      return decide_connection(policy::Protocol::kRaw, "");
    case sniff::TrafficKind::kTls:
      return decide_connection(policy::Protocol::kTls, c.host);
    case sniff::TrafficKind::kMalformedHttp: {
      state_ = State::kClosed;
      StreamAction a;
      a.close_with = plain_response("400 Bad Request", "matchlock: " + c.reason + "\n");
      return a;
    }
    case sniff::TrafficKind::kHttp: {
      state_ = State::kHttp;
      std::string all = std::move(sniffed_);
      sniffed_.clear();
      return run_http(all);
    }
    case sniff::TrafficKind::kRaw:
      return decide_connection(policy::Protocol::kRaw, "");
  }
  return {};
}

StreamAction StreamGate::sniff_timeout() {
  if (state_ != State::kSniffing) return {};
  return decide_connection(policy::Protocol::kRaw, "");
}

// The address check comes after the gate, on the exact address that will be dialled.
std::optional<std::string> StreamGate::check_dial(bool http, const std::string& host,
                                                  StreamAction& a) {
  if (!hook_.may_dial(dst_, host)) {
    state_ = State::kClosed;
    if (http) {
      a.close_with = forbidden_response(host);
    } else {
      a.reset = true;
    }
    return "destination " + ipv4_text(dst_) + " may not be dialled for " + host;
  }
  if (!dialled_) {
    dialled_ = true;
    a.dial = true;
  }
  return std::nullopt;
}

StreamAction StreamGate::decide_connection(policy::Protocol protocol, const std::string& host) {
  StreamAction a;
  auto request = base_request(protocol, host);
  auto verdict = hook_.gate(request);
  if (!verdict.allowed) {
    state_ = State::kClosed;
    a.reset = true;  // blocked TLS and raw TCP: the guest sees a reset
    hook_.connection_blocked(request, verdict.reason);
    return a;
  }
  if (auto refused = check_dial(false, host, a)) {
    hook_.connection_blocked(request, *refused);
    return a;
  }
  state_ = State::kPassthrough;
  a.forward = std::move(sniffed_);
  sniffed_.clear();
  return a;
}

StreamAction StreamGate::run_http(std::string_view bytes) {
  StreamAction a;
  auto events = splitter_.feed(bytes);
  if (!events.ok()) {
    state_ = State::kClosed;
    a.close_with = plain_response("400 Bad Request", "matchlock: " + events.error().message + "\n");
    return a;
  }
  for (auto& ev : events.value()) {
    switch (ev.kind) {
      case sniff::HttpStreamEvent::Kind::kRequestHead: {
        auto r = base_request(policy::Protocol::kHttp, ev.head.host);
        r.method = ev.head.method;
        r.target = ev.head.target;
        for (const auto& h : ev.head.headers) r.headers.push_back({h.name, h.value});
        auto verdict = hook_.gate(r);
        if (!verdict.allowed) {
          state_ = State::kClosed;
          a.close_with = forbidden_response(ev.head.host);
          hook_.connection_blocked(r, verdict.reason);
          return a;  // earlier allowed requests in `forward` still go out first
        }
        if (auto refused = check_dial(true, ev.head.host, a)) {
          hook_.connection_blocked(r, *refused);
          return a;
        }
        a.forward += ev.raw_head;
        break;
      }
      case sniff::HttpStreamEvent::Kind::kBodyBytes:
      case sniff::HttpStreamEvent::Kind::kOpaqueBytes:
        a.forward.append(ev.bytes);
        break;
      case sniff::HttpStreamEvent::Kind::kRequestEnd:
        break;
    }
  }
  return a;
}

}  // namespace matchlock::net
