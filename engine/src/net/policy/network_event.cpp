#include "net/policy/network_event.h"

namespace matchlock::net::policy {
namespace {

uint16_t default_port(const std::string& scheme) {
  if (scheme == "https") return 443;
  if (scheme == "http") return 80;
  return 0;
}

}  // namespace

std::string path_without_query(const std::string& target) {
  return target.substr(0, target.find_first_of("?#"));
}

std::string network_event_host(const NetworkEvent& e) {
  return e.host.empty() ? e.address : e.host;
}

std::string network_event_url(const NetworkEvent& e) {
  std::string url = e.scheme + "://";
  const std::string host = network_event_host(e);
  // An IPv6 literal needs brackets before a port (the guest has no IPv6 today; cheap to be right).
  url += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (e.port != 0 && e.port != default_port(e.scheme)) url += ":" + std::to_string(e.port);
  url += e.path;
  return url;
}

Event http_response_event(const NetworkEvent& e) {
  Event event;
  event.type = EventType::kHttpResponse;
  event.plugin = "proxy";
  event.summary = std::to_string(e.status) + " " + e.method + " " + e.host + e.path;
  event.data = {{"method", e.method},
                {"host", e.host},
                {"path", e.path},
                {"exchange_id", static_cast<int64_t>(e.exchange_id)},
                {"status", static_cast<int64_t>(e.status)},
                {"bytes", static_cast<int64_t>(e.response_bytes)},
                {"request_bytes", static_cast<int64_t>(e.request_bytes)},
                {"duration_ms", e.duration_ms},
                {"blocked", e.blocked},
                {"reason", e.reason}};
  return event;
}

NetworkEvent blocked_connection_event(const Request& request, std::string reason) {
  NetworkEvent e;
  e.blocked = true;
  e.reason = std::move(reason);
  e.port = request.port;
  e.host = request.host;
  if (request.destination) e.address = request.destination->to_string();
  switch (request.protocol) {
    case Protocol::kHttp:
      e.method = request.method;
      e.scheme = request.tls ? "https" : "http";
      e.path = path_without_query(request.target);
      e.status = 403;  // StreamGate answers a refused request with its 403
      break;
    case Protocol::kTls:
      e.scheme = "tls";
      break;
    case Protocol::kRaw:
    case Protocol::kDns:
      e.scheme = "tcp";
      break;
  }
  return e;
}

}  // namespace matchlock::net::policy
