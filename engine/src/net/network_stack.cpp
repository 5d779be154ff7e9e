#include "net/network_stack.h"

#include "core/log.h"
#include "net/dns/dns_forwarder.h"
#include "net/dns/upstream_resolver.h"
#include "net/link/guest_link.h"
#include "net/link/virtio_net_link.h"
#include "net/nat/tcp_relay.h"
#include "net/nat/udp_relay.h"
#include "net/stack/addresses.h"
#include "net/stack/lwip_stack.h"
#include "net/stack/outgoing_frames.h"
#include "net/stack/packet_info.h"

namespace matchlock::net {

GuestAddressing guest_addressing(int mtu) {
  return {ipv4_text(kGuestIp), ipv4_text(kGatewayIp), kGuestPrefix, mtu};
}

// Members are declared in teardown order reversed: relays go before lwIP, lwIP before the link.
struct NetworkStack::Impl {
  uv_loop_t* loop = nullptr;
  NetworkConfig config;
  std::vector<Endpoint> dns_servers;
  std::unique_ptr<GuestNic> link;
  std::unique_ptr<LwipStack> stack;
  std::unique_ptr<UpstreamResolver> resolver;
  std::unique_ptr<DnsForwarder> dns;
  std::unique_ptr<UdpRelay> udp;
  std::unique_ptr<TcpRelay> tcp;
  std::function<void(const Error&)> on_closed;

  Status open_link(UniqueFd link_fd) {
    if (!link_fd.valid()) return Status();
    GuestNic::Events ev;
    ev.on_frame = [this](const uint8_t* f, size_t n) { on_frame(f, n); };
    ev.on_closed = [cb = on_closed](const Error& e) {
      if (cb) cb(e);
    };
    // Frame = MTU + Ethernet header (+ a VLAN tag's worth of slack).
    const size_t max_frame = static_cast<size_t>(config.mtu) + 18;
    if (config.transport == NicTransport::kStream) {
      auto opened = GuestLink::open(loop, std::move(link_fd), max_frame, std::move(ev));
      if (!opened.ok()) return opened.error();
      link = std::move(opened.value());
    } else {
      auto opened = VirtioNetLink::open(loop, std::move(link_fd), max_frame, std::move(ev));
      if (!opened.ok()) return opened.error();
      link = std::move(opened.value());
    }
    return Status();
  }

  // Everything lwIP sends. A frame above the MTU is a TCP segment the NIC takes whole (see
  // LwipStack::widen_segments) or anything else lwIP built larger than the MTU, which leaves
  // as IPv4 fragments (lwIP itself never fragments: its netif MTU is 0).
  void to_guest(const uint8_t* f, size_t len) {
    if (!link) return;
    const size_t mtu = static_cast<size_t>(config.mtu);
    if (len <= mtu + kEthernetHeaderBytes) return link->send(f, len);
    const OutgoingFrame frame = inspect_outgoing(f, len);
    if (link->takes_large_tcp_segments()) {
      if (uint16_t segment = tcp_segment_size(frame, config.mtu)) {
        return link->send(f, len, segment);
      }
    }
    for (const std::string& piece : ipv4_fragments(f, len, config.mtu)) {
      link->send(reinterpret_cast<const uint8_t*>(piece.data()), piece.size());
    }
  }

  bool intercepting() const { return config.policy != nullptr; }

  TcpPlan plan_tcp(uint32_t dst, uint16_t dport) {
    TcpPlan refuse;
    // DNS over TCP to any address is answered by the engine, like UDP (same policy).
    if (dport == 53) return {TcpPlan::Kind::kLocalDns, {}};
    if (intercepting()) {
      // The sinkhole is the one link address that is intercepted (its 403 is the point).
      if (never_relay(dst) && dst != kSinkholeIp) return refuse;
      return {TcpPlan::Kind::kIntercept, {dst, dport}};
    }
    if (never_relay(dst)) return refuse;  // the host's loopback, the link, multicast
    return {TcpPlan::Kind::kRelay, {dst, dport}};
  }

  void on_frame(const uint8_t* f, size_t len) {
    PacketInfo info = parse_packet(f, len);
    switch (info.kind) {
      case PacketInfo::Kind::kArp:
        // Proxy-ARP: answer for any address except the guest's own.
        return stack->input(
            f, len, info.arp_request && info.arp_target != kGuestIp ? info.arp_target : kGatewayIp);
      case PacketInfo::Kind::kIpv4:
        break;
      default:
        return;  // IPv6 and the rest: the guest has IPv6 disabled; nothing bypasses the gate
    }
    if (info.src != kGuestIp) return;  // spoofed source
    if (!info.checksums_ok) return;    // lwIP would drop it too; policy never acts on it
    switch (info.proto) {
      case kProtoIcmp:
        // Echo is answered for the gateway only; ICMP elsewhere is dropped (no relay).
        if (info.dst == kGatewayIp) stack->input(f, len, info.dst);
        return;
      case kProtoTcp:
        if (info.fragment) return;  // guests set DF; fragments could dodge the SYN check
        if ((info.tcp_flags & kTcpSyn) && !(info.tcp_flags & kTcpAck) && tcp->on_syn(info, f, len))
          return;
        return stack->input(f, len, info.dst);
      case kProtoUdp:
        if (info.has_ports && info.dport != 53) {
          if (intercepting() || never_relay(info.dst)) return;  // only DNS in interception
          udp->prepare(info);
        }
        return stack->input(f, len, info.dst);
      default:
        return;
    }
  }
};

NetworkStack::NetworkStack(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

NetworkStack::~NetworkStack() {
  if (!impl_) return;
  impl_->tcp.reset();
  impl_->udp.reset();
  impl_->dns.reset();
  impl_->resolver.reset();
  impl_->stack.reset();
  impl_->link.reset();
}

Result<std::unique_ptr<NetworkStack>> NetworkStack::start(
    uv_loop_t* loop, UniqueFd link_fd, NetworkConfig config,
    std::function<void(const Error&)> on_closed) {
  auto impl = std::make_unique<Impl>();
  Impl* i = impl.get();
  i->loop = loop;
  i->config = std::move(config);
  for (const auto& s : i->config.dns_servers) {
    uint32_t ip;
    if (!parse_ipv4(s, &ip)) {
      log::warn("dns server " + s + " is not IPv4: the engine resolves over IPv4 only, skipped");
      continue;
    }
    i->dns_servers.push_back({ip, 53});
  }
  auto stack = LwipStack::create(
      loop, i->config.mtu, [i](const uint8_t* f, size_t n) { i->to_guest(f, n); },
      [i] { return i->link && i->link->takes_large_tcp_segments(); });
  if (!stack.ok()) return stack.error();
  i->stack = std::move(stack.value());
  i->resolver = std::make_unique<UpstreamResolver>(loop, i->dns_servers);
  DnsHooks hooks;
  if (auto policy = i->config.policy) {
    hooks.on_query = [policy](const std::string& q) { return policy->dns_query(q); };
    hooks.on_reply = [policy](const std::string& q, std::string r) {
      return policy->dns_reply(q, std::move(r));
    };
  }
  auto dns = DnsForwarder::create(*i->stack, *i->resolver, std::move(hooks));
  if (!dns.ok()) return dns.error();
  i->dns = std::move(dns.value());
  i->udp = std::make_unique<UdpRelay>(loop, *i->stack);
  i->tcp = std::make_unique<TcpRelay>(
      loop, *i->stack, [i](uint32_t dst, uint16_t dport) { return i->plan_tcp(dst, dport); },
      i->config.policy.get(), i->dns.get());
  i->on_closed = std::move(on_closed);
  if (auto st = i->open_link(std::move(link_fd)); !st.ok()) return st.error();
  return std::unique_ptr<NetworkStack>(new NetworkStack(std::move(impl)));
}

Status NetworkStack::replace_link(UniqueFd link_fd) {
  impl_->link.reset();  // the old QEMU's end: closed without a word, it is going away
  return impl_->open_link(std::move(link_fd));
}

}  // namespace matchlock::net
