#include "net/proxy/session_factory.h"

#include "net/proxy/h2_session.h"

namespace matchlock::net::proxy {

std::unique_ptr<GuestProtocolSession> make_session_for(tls::ApplicationProtocol protocol,
                                                       uv_loop_t* loop, MitmServices& services,
                                                       ConnectionFacts facts, GuestChannel& guest,
                                                       EarlyUpstream* early) {
  switch (protocol) {
    case tls::ApplicationProtocol::kUnspecified:
    case tls::ApplicationProtocol::kHttp11: {
      // An idle HTTP/1.1 upstream that sent nothing is reused for the first request.
      std::unique_ptr<UpstreamConnection> preconnected;
      if (early && early->ready() && !early->ended() &&
          early->application_protocol() != tls::ApplicationProtocol::kH2 &&
          early->take_received().empty()) {
        preconnected = early->take_connection();
      }
      return std::make_unique<Http1Session>(loop, services, std::move(facts), guest,
                                            std::move(preconnected));
    }
    case tls::ApplicationProtocol::kH2:
      if (!early || !early->ready() ||
          early->application_protocol() != tls::ApplicationProtocol::kH2) {
        return nullptr;
      }
      return std::make_unique<H2Session>(loop, services, std::move(facts), guest, *early);
  }
  return nullptr;
}

}  // namespace matchlock::net::proxy
