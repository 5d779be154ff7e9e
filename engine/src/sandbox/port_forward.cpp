#include "sandbox/port_forward.h"

#include "core/log.h"
#include "guest_client/guest_connection.h"
#include "sandbox/port_forward_relay.h"

namespace matchlock::sandbox {
namespace {

constexpr int kListenBacklog = 128;

std::string describe(const std::string& address, uint16_t port) {
  if (address.find(':') != std::string::npos) return "[" + address + "]:" + std::to_string(port);
  return address + ":" + std::to_string(port);
}

}  // namespace

GuestPortOpener guest_port_opener(std::weak_ptr<guest_client::GuestConnection> connection) {
  return
      [connection](const guest_client::PortTarget& target,
                   guest_client::PortEvents events) -> std::shared_ptr<guest_client::PortHandle> {
        auto c = connection.lock();
        if (!c) return nullptr;
        return c->open_port(target, std::move(events));
      };
}

PortForwarder::PortForwarder(uv_loop_t* loop, GuestPortOpener open_guest_port)
    : loop_(loop), open_guest_port_(std::move(open_guest_port)) {}

Result<std::unique_ptr<PortForwarder>> PortForwarder::start(
    uv_loop_t* loop, const std::vector<PortForwardRule>& rules, GuestPortOpener open_guest_port) {
  std::unique_ptr<PortForwarder> forwarder(new PortForwarder(loop, std::move(open_guest_port)));
  for (const auto& rule : rules) {
    // On failure the forwarder is destroyed here, which closes (unbinds) what it bound so far.
    MATCHLOCK_TRY(forwarder->listen(rule));
  }
  return forwarder;
}

PortForwarder::~PortForwarder() {
  auto connections = std::move(connections_);
  for (auto& [id, relay] : connections) relay->abort();
  // The listeners close in their Handle destructors.
}

Status PortForwarder::listen(const PortForwardRule& rule) {
  const std::string where = describe(rule.address, rule.host_port);
  auto failed = [&](int rc) {
    return io_error("bind local port-forward listener " + where + ": " + uv::error_text(rc));
  };
  sockaddr_storage addr{};
  bool v6 = rule.address.find(':') != std::string::npos;
  int rc =
      v6 ? uv_ip6_addr(rule.address.c_str(), rule.host_port, reinterpret_cast<sockaddr_in6*>(&addr))
         : uv_ip4_addr(rule.address.c_str(), rule.host_port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) {
    return invalid_argument("bind local port-forward listener " + where + ": not an IP address");
  }

  auto listener = std::make_unique<Listener>();
  listener->owner = this;
  listener->guest_port = rule.guest_port;
  if ((rc = listener->tcp.init(loop_, listener.get(), uv_tcp_init)) != 0) return failed(rc);
  rc = uv_tcp_bind(listener->tcp.get(), reinterpret_cast<const sockaddr*>(&addr),
                   v6 ? UV_TCP_IPV6ONLY : 0);
  if (rc != 0) return failed(rc);
  // libuv may report a bind error only here.
  rc = uv_listen(listener->tcp.stream(), kListenBacklog, [](uv_stream_t* server, int status) {
    auto* l = static_cast<Listener*>(server->data);
    if (l && status == 0) l->owner->on_connection(*l);
  });
  if (rc != 0) return failed(rc);

  sockaddr_storage bound{};
  int len = sizeof bound;
  if ((rc = uv_tcp_getsockname(listener->tcp.get(), reinterpret_cast<sockaddr*>(&bound), &len)) !=
      0) {
    return failed(rc);
  }
  uint16_t port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                        : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  bindings_.push_back({rule.address, port, rule.guest_port});
  listeners_.push_back(std::move(listener));
  return {};
}

void PortForwarder::on_connection(Listener& listener) {
  auto relay = std::make_shared<PortForwardRelay>(loop_);
  if (uv_accept(listener.tcp.stream(), relay->client()) != 0) return;
  if (connections_.size() >= kMaxConnections) {
    log::warn("port-forward: " + std::to_string(kMaxConnections) +
              " connections are open; refusing another");
    relay->abort();
    return;
  }
  uint64_t id = next_connection_id_++;
  connections_[id] = relay;
  guest_client::PortTarget target;
  target.port = listener.guest_port;
  // The forwarder outlives every relay's on_done: its destructor aborts them, which drops it.
  relay->start(open_guest_port_, target, [this, id] { connections_.erase(id); });
}

}  // namespace matchlock::sandbox
