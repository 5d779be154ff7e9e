// The seam between a terminated guest connection and the protocol spoken inside it: the
// endpoint asks for a session by the ALPN the guest-facing handshake negotiated. HTTP/1.1 (or
// no ALPN) gets Http1Session; h2 gets H2Session, over the upstream connection dialled while the
// guest's handshake waited (the guest is offered h2 only when that upstream chose h2).
#pragma once

#include <uv.h>

#include <memory>

#include "net/proxy/early_upstream.h"
#include "net/proxy/guest_channel.h"
#include "net/proxy/http1_session.h"
#include "net/proxy/mitm_services.h"
#include "net/tls/alpn.h"

namespace matchlock::net::proxy {

// `early`: the upstream dialled ahead of the guest's handshake, or null. Null result: no
// session can serve this protocol (h2 without an h2 upstream); the endpoint closes.
std::unique_ptr<GuestProtocolSession> make_session_for(tls::ApplicationProtocol protocol,
                                                       uv_loop_t* loop, MitmServices& services,
                                                       ConnectionFacts facts, GuestChannel& guest,
                                                       EarlyUpstream* early = nullptr);

}  // namespace matchlock::net::proxy
