#include "net/intercept/intercept_mitm.h"

#include "net/policy_hook.h"
#include "net/tls/contexts.h"

namespace matchlock::net {

Result<std::unique_ptr<InterceptMitm>> InterceptMitm::create(
    std::shared_ptr<const tls::CertificateAuthority> ca, const policy::Pipeline& pipeline,
    PolicyHook& hook, DnsNameFor dns_name_for) {
  std::unique_ptr<InterceptMitm> m(new InterceptMitm(pipeline, hook));
  auto leaves = std::make_shared<tls::LeafCache>(std::move(ca));
  // h2 is selected per connection, only when its upstream chose h2 (proxy/proxy_endpoint.h).
  auto guest = tls::make_guest_facing_context(std::move(leaves), tls::GuestAlpn::kH2AndHttp11);
  if (!guest) return guest.error().with_context("TLS interception");
  auto upstream = tls::make_upstream_context();
  if (!upstream) return upstream.error().with_context("TLS interception");
  m->guest_facing_ = std::move(*guest);
  m->upstream_ = std::move(*upstream);
  m->dns_name_for_ = std::move(dns_name_for);
  return m;
}

bool InterceptMitm::may_dial(uint32_t ip, const std::string& host) {
  return hook_.may_dial(ip, host);
}

// The address check first: it is cheap and reports nothing, so a blocked name (sinkholed by
// DNS) adds no gate event of its own before its request's 403.
bool InterceptMitm::may_connect(uint32_t ip, uint16_t port, const std::string& sni) {
  if (!hook_.may_dial(ip, sni)) return false;
  // Requests that may be routed elsewhere need HTTP/1.1 with the guest (Plugin::may_reroute):
  // no early dial, so no h2.
  if (pipeline_.may_reroute(sni)) return false;
  policy::Request request;
  request.protocol = policy::Protocol::kTls;
  request.host = sni;
  request.destination =
      policy::IpAddress::v4(ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
  request.port = port;
  return hook_.gate(request).allowed;
}

}  // namespace matchlock::net
