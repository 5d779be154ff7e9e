#include "net/dns/upstream_resolver.h"

#include <arpa/inet.h>

#include "core/log.h"
#include "core/uv.h"
#include "net/stack/addresses.h"

namespace matchlock::net {

// Owned by the resolver's in-flight map; libuv callbacks reach it through handle->data,
// which Handle::close() clears, so nothing runs on a finished query.
struct UpstreamResolver::Query {
  uint64_t id = 0;
  UpstreamResolver* owner = nullptr;
  std::string query;
  Done done;
  size_t server = 0;
  uv::Handle<uv_udp_t> sock;
  uv::Handle<uv_timer_t> timer;
  std::string reply_buf;
};

UpstreamResolver::UpstreamResolver(uv_loop_t* loop, std::vector<Endpoint> servers,
                                   uint64_t timeout_ms)
    : loop_(loop), servers_(std::move(servers)), timeout_ms_(timeout_ms) {}

UpstreamResolver::~UpstreamResolver() = default;

void UpstreamResolver::resolve(std::string query, Done done) {
  // Each query holds a host socket for up to the timeout: a flooding guest is dropped, not
  // allowed to exhaust the engine's descriptors.
  constexpr size_t kMaxInflight = 256;
  if (inflight_.size() >= kMaxInflight) {
    if (done) done(std::nullopt);
    return;
  }
  auto q = std::make_unique<Query>();
  q->id = next_id_++;
  q->owner = this;
  q->query = std::move(query);
  q->done = std::move(done);
  q->reply_buf.resize(65536);
  q->timer.init(loop_, q.get(), uv_timer_init);
  Query& ref = *q;
  inflight_[q->id] = std::move(q);
  attempt(ref);
}

void UpstreamResolver::attempt(Query& q) {
  if (q.server >= servers_.size() || q.query.size() < 12) return finish(q.id, std::nullopt);
  const Endpoint ep = servers_[q.server];
  q.sock = uv::Handle<uv_udp_t>();  // closes the previous server's socket
  q.sock.init(loop_, &q, uv_udp_init);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(ep.port);
  sa.sin_addr.s_addr = htonl(ep.ip);
  int rc = uv_udp_connect(q.sock.get(), reinterpret_cast<const sockaddr*>(&sa));
  if (rc == 0) {
    rc = uv_udp_recv_start(
        q.sock.get(),
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<Query*>(h->data);
          *buf = self ? uv_buf_init(self->reply_buf.data(), self->reply_buf.size())
                      : uv_buf_init(nullptr, 0);
        },
        [](uv_udp_t* h, ssize_t nread, const uv_buf_t* buf, const sockaddr*, unsigned) {
          auto* self = static_cast<Query*>(h->data);
          if (!self || nread < 12) return;  // errors are left to the timer
          // Only a reply carrying this query's ID counts (the connected socket checks the source).
          if (buf->base[0] != self->query[0] || buf->base[1] != self->query[1]) return;
          self->owner->finish(self->id, std::string(buf->base, static_cast<size_t>(nread)));
        });
  }
  if (rc == 0) {
    uv_buf_t b = uv_buf_init(q.query.data(), q.query.size());
    int sent = uv_udp_try_send(q.sock.get(), &b, 1, nullptr);
    if (sent < 0) rc = sent;
  }
  if (rc != 0) log::debug("net: dns server " + ipv4_text(ep.ip) + ": " + uv::error_text(rc));
  uv_timer_start(
      q.timer.get(),
      [](uv_timer_t* t) {
        auto* self = static_cast<Query*>(t->data);
        if (!self) return;
        self->server++;
        self->owner->attempt(*self);
      },
      rc == 0 ? timeout_ms_ : 0, 0);
}

void UpstreamResolver::finish(uint64_t id, std::optional<std::string> reply) {
  auto it = inflight_.find(id);
  if (it == inflight_.end()) return;
  auto q = std::move(it->second);
  inflight_.erase(it);
  auto done = std::move(q->done);
  q.reset();  // closes its socket and timer (their callbacks see null data from now on)
  if (done) done(std::move(reply));
}

}  // namespace matchlock::net
