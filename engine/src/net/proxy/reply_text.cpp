#include "net/proxy/reply_text.h"

#include "net/http1/serializer.h"

namespace matchlock::net::proxy {

std::string render_reply(const Reply& reply, const std::string& host) {
  std::string name = host.empty() ? "this address" : host;
  std::string body;
  switch (reply.status) {
    case 403:
      body = "Blocked by policy: matchlock does not allow access to " + name;
      break;
    case 502:
      body = "Bad gateway: matchlock could not reach " + name;
      break;
    default:
      body = "matchlock: " + std::string(http1::reason_phrase(reply.status));
      break;
  }
  if (!reply.reason.empty()) body += " (" + reply.reason + ")";
  body += "\n";
  return http1::plain_text_response(reply.status, body);
}

}  // namespace matchlock::net::proxy
