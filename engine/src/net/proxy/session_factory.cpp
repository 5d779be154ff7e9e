#include "net/proxy/session_factory.h"

namespace matchlock::net::proxy {

std::unique_ptr<GuestProtocolSession> make_session_for(tls::ApplicationProtocol protocol,
                                                       uv_loop_t* loop, MitmServices& services,
                                                       ConnectionFacts facts, GuestChannel& guest) {
  switch (protocol) {
    case tls::ApplicationProtocol::kUnspecified:
    case tls::ApplicationProtocol::kHttp11:
      return std::make_unique<Http1Session>(loop, services, std::move(facts), guest);
    case tls::ApplicationProtocol::kH2:
      return nullptr;  // net/h2's session goes here
  }
  return nullptr;
}

}  // namespace matchlock::net::proxy
