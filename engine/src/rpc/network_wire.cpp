#include "rpc/network_wire.h"

#include <algorithm>

#include "rpc/message.h"

namespace matchlock::rpc {
namespace {

// Strings here come from the guest (host names, paths): bounded, so one event stays small
// whatever it sends, and made valid UTF-8 (RapidJSON escapes the rest).
constexpr size_t kMaxFieldBytes = 2048;

std::string_view bounded(const std::string& s) {
  if (s.size() <= kMaxFieldBytes) return s;
  size_t end = kMaxFieldBytes;  // back to a character boundary
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return std::string_view(s).substr(0, end);
}

}  // namespace

std::string network_event_line(const sandbox::NetworkEvent& e, int64_t unix_ms) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  auto str = [&](const std::string& s) {
    const std::string b = sanitize_utf8(bounded(s));
    return rapidjson::Value(b.c_str(), rapidjson::SizeType(b.size()), a);
  };
  rapidjson::Value network(rapidjson::kObjectType);
  network.AddMember("method", str(e.method), a);
  network.AddMember("url", str(net::policy::network_event_url(e)), a);
  network.AddMember("host", str(net::policy::network_event_host(e)), a);
  network.AddMember("status_code", e.status, a);
  network.AddMember("request_bytes", e.request_bytes, a);
  network.AddMember("response_bytes", e.response_bytes, a);
  network.AddMember("duration_ms", std::max<int64_t>(e.duration_ms, 0), a);
  network.AddMember("blocked", e.blocked, a);
  if (e.blocked) network.AddMember("block_reason", str(e.reason), a);
  d.AddMember("type", "network", a);
  d.AddMember("timestamp", unix_ms, a);
  d.AddMember("network", network, a);
  return notification_line("event", d);
}

}  // namespace matchlock::rpc
