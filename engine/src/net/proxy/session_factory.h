// The seam between a terminated guest connection and the protocol spoken inside it: the
// endpoint asks for a session by the ALPN the guest-facing handshake negotiated. HTTP/1.1 (or
// no ALPN) gets Http1Session; "h2" is where net/h2's session plugs in. h2 is not offered to
// the guest yet (tls::GuestAlpn::kHttp11Only), so today it yields no session (the endpoint
// then closes the connection).
#pragma once

#include <uv.h>

#include <memory>

#include "net/proxy/guest_channel.h"
#include "net/proxy/http1_session.h"
#include "net/proxy/mitm_services.h"
#include "net/tls/alpn.h"

namespace matchlock::net::proxy {

std::unique_ptr<GuestProtocolSession> make_session_for(tls::ApplicationProtocol protocol,
                                                       uv_loop_t* loop, MitmServices& services,
                                                       ConnectionFacts facts, GuestChannel& guest);

}  // namespace matchlock::net::proxy
