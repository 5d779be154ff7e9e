#include "net/dns/dns_tcp_session.h"

namespace matchlock::net {

bool DnsTcpSession::feed(std::string_view bytes) {
  buf_.append(bytes);
  while (buf_.size() >= 2) {
    size_t len = (static_cast<uint8_t>(buf_[0]) << 8) | static_cast<uint8_t>(buf_[1]);
    if (len < 12) return false;  // shorter than a DNS header
    if (buf_.size() < 2 + len) break;
    std::string query = buf_.substr(2, len);
    buf_.erase(0, 2 + len);
    std::weak_ptr<bool> alive = alive_;
    ++pending_;
    forwarder_.answer(std::move(query), [this, alive](std::optional<std::string> reply) {
      auto a = alive.lock();
      if (!a || !*a) return;
      --pending_;
      if (!reply || reply->size() > 0xffff) return emit_({});
      std::string framed;
      framed.push_back(static_cast<char>(reply->size() >> 8));
      framed.push_back(static_cast<char>(reply->size() & 0xff));
      framed += *reply;
      emit_(std::move(framed));
    });
  }
  return buf_.size() <= 2 + 0xffff;
}

}  // namespace matchlock::net
