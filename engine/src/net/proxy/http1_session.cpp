#include "net/proxy/http1_session.h"

#include "core/ascii.h"
#include "core/log.h"
#include "net/http1/serializer.h"
#include "net/proxy/reply_text.h"

namespace matchlock::net::proxy {
namespace {

// Upstream writes not yet taken by the socket: above this the guest's body waits.
constexpr size_t kUpstreamHighWater = 256 * 1024;

policy::IpAddress ip_of(uint32_t ip) {
  return policy::IpAddress::v4(ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

// A RouteTo names where a request goes instead (a local model backend): an IPv4 literal or
// "localhost"; anything else would need a resolver the policy did not check.
std::optional<uint32_t> route_address(const std::string& host) {
  if (host == "localhost") return 0x7f000001u;
  uint32_t ip;
  if (parse_ipv4(host, &ip)) return ip;
  return std::nullopt;
}

}  // namespace

Http1Session::Http1Session(uv_loop_t* loop, MitmServices& services, ConnectionFacts facts,
                           GuestChannel& guest, std::unique_ptr<UpstreamConnection> preconnected)
    : loop_(loop),
      services_(services),
      facts_(std::move(facts)),
      guest_(guest),
      upstream_(std::move(preconnected)) {
  if (!upstream_) return;
  upstream_->set_handler(*this, [this] { return guest_.room(); });
  upstream_->resume_reads();  // hear it if the server closes the idle connection
}

Http1Session::~Http1Session() {
  *alive_ = false;
  if (active_) finish_exchange("connection closed");
  retire_upstream();
}

// --- guest input ------------------------------------------------------------------------

void Http1Session::on_guest_data(std::string_view plaintext) {
  if (closing_) return guest_.input_consumed();  // dropped: nothing more is read
  if (spliced_) {
    if (upstream_) upstream_->write(plaintext);
    return guest_.input_consumed();
  }
  reader_.append(plaintext);
  pump();
}

void Http1Session::on_guest_eof() {
  guest_eof_ = true;
  if (closing_) return;
  if (spliced_) return close_after_flush();
  pump();  // a complete request still goes through; a truncated one ends there
}

void Http1Session::on_guest_room() {
  if (upstream_) upstream_->resume_reads();
}

void Http1Session::on_guest_gone() {
  closing_ = true;
  if (active_) finish_exchange("connection reset");
  if (upstream_) upstream_->reset();
  retire_upstream();
}

// Reads request events as far as the current state allows: one head at a time (its policy
// answer comes later), body pieces while the upstream keeps up.
void Http1Session::pump() {
  auto token = alive_;
  while (!closing_ && !spliced_) {
    if (!active_) {
      if (reader_.idle() && guest_eof_) return close_after_flush();
      auto event = reader_.next();
      if (!event && guest_eof_ && !reader_.error()) return close_after_flush();  // partial head
      if (!event) break;
      if (event->kind != http1::RequestEvent::Kind::kHead) {
        return abort_connection("request framing out of step");
      }
      start_exchange(std::move(event->head));
      if (!*token) return;
      continue;
    }
    auto phase = active_->request;
    if (phase != RequestPhase::kStreaming && phase != RequestPhase::kBuffering) break;
    if (phase == RequestPhase::kStreaming && upstream_ &&
        upstream_->in_flight() > kUpstreamHighWater) {
      break;  // on_upstream_drained resumes
    }
    auto event = reader_.next();
    if (!event) break;
    if (event->kind == http1::RequestEvent::Kind::kBody) {
      on_request_body(std::move(event->body));
    } else if (event->kind == http1::RequestEvent::Kind::kEnd) {
      on_request_end();
    }
    if (!*token) return;
  }
  if (!*token) return;
  bool reading_body = active_ && (active_->request == RequestPhase::kStreaming ||
                                  active_->request == RequestPhase::kBuffering);
  if (guest_eof_ && reading_body && !closing_ && !reader_.end_pending() && !reader_.error()) {
    return abort_connection("the guest closed in the middle of a request body");
  }
  if (reader_.error() && !closing_) {
    const auto& e = *reader_.error();
    if (active_ && active_->response_head_sent) return abort_connection(e.reason);
    if (active_) finish_exchange(e.reason);
    guest_.send(render_reply(Reply{e.status, e.reason}, ""));
    closing_ = true;
    retire_upstream();
    guest_.end();
    return;
  }
  guest_.input_consumed();
}

void Http1Session::start_exchange(http1::RequestHead head) {
  auto exchange = std::make_shared<Exchange>();
  auto& r = exchange->request;
  r.protocol = policy::Protocol::kHttp;
  r.host = head.host;
  r.sni = facts_.sni;
  r.dns_name = services_.dns_name_for(facts_.destination.ip, head.host);
  r.destination = ip_of(facts_.destination.ip);
  r.port = facts_.destination.port;
  r.tls = facts_.tls;
  r.method = head.method;
  r.target = head.target;
  r.headers = head.headers;
  r.exchange_id = services_.next_exchange_id();
  exchange->started = std::chrono::steady_clock::now();
  // From a value: clang does not see the nested struct as default-constructible for emplace().
  active_.emplace(Active{});
  active_->exchange = exchange;
  active_->head = std::move(head);
  active_->request = RequestPhase::kAwaitPolicy;
  std::weak_ptr<bool> alive = alive_;
  services_.exchange_policy().on_request(exchange, [this, alive, exchange](RequestOutcome o) {
    auto live = alive.lock();
    if (!live || !*live || !active_ || active_->exchange != exchange) return;
    on_request_outcome(std::move(o));
  });
}

std::optional<UpstreamTarget> Http1Session::choose_target(Reply& refused) {
  const auto& ex = *active_->exchange;
  UpstreamTarget target;
  if (ex.route) {
    auto ip = route_address(ex.route->host);
    if (!ip) {
      refused = Reply{502, "route target is not an address"};
      return std::nullopt;
    }
    target.address = Endpoint{*ip, ex.route->port};
    target.tls = ex.route->tls;
    target.server_name = ex.route->host;
    // The backend is the request's new origin: it gets its own authority as Host.
    policy::set_header(active_->exchange->request.headers, "Host",
                       ex.route->host + ":" + std::to_string(ex.route->port));
    return target;
  }
  // The exact address the guest dialled, and only if it was given out for this host.
  const std::string& host = ex.request.host;
  if (!services_.may_dial(facts_.destination.ip, host)) {
    refused = Reply{403, "destination address not allowed for this host"};
    return std::nullopt;
  }
  target.address = facts_.destination;
  target.tls = facts_.tls;
  target.server_name = host.empty() ? ipv4_text(facts_.destination.ip) : host;
  return target;
}

void Http1Session::on_request_outcome(RequestOutcome outcome) {
  if (outcome.reply) return reply_and_close(*outcome.reply);
  const auto& head = active_->head;
  bool has_body = head.framing != http1::BodyFraming::kNone;
  if (outcome.rewrite_body) {
    // The body decides where the request goes (a body route) and what it says: nothing is
    // dialled until the whole body is here and rewritten (on_request_end).
    if (head.expect_continue && has_body) guest_.send("HTTP/1.1 100 Continue\r\n\r\n");
    active_->rewrite_body = std::move(outcome.rewrite_body);
    active_->request = RequestPhase::kBuffering;
    return pump();
  }
  if (!dispatch_upstream()) return;
  // The policy allowed the request: now the guest may send the body it held back. Expect is
  // not forwarded, so the upstream never sends a second 100.
  if (head.expect_continue && has_body) guest_.send("HTTP/1.1 100 Continue\r\n\r\n");
  if (!send_request_head(std::nullopt)) return;
  active_->request = RequestPhase::kStreaming;
  pump();
}

// Picks and opens the upstream for the active exchange; false when it was refused instead.
bool Http1Session::dispatch_upstream() {
  Reply refused;
  auto target = choose_target(refused);
  if (!target) {
    reply_and_close(refused);
    return false;
  }
  open_upstream(*target);
  active_->response = ResponsePhase::kAwaitHead;
  response_reader_.expect_response_to(active_->exchange->request.method);
  return true;
}

void Http1Session::open_upstream(const UpstreamTarget& target) {
  if (upstream_ && upstream_->usable() && upstream_->target() == target) return;  // reuse
  retire_upstream();
  upstream_eof_ = false;
  response_reader_ = http1::ResponseReader();
  upstream_ = std::make_unique<UpstreamConnection>(loop_, services_.upstream_context(), target,
                                                   static_cast<UpstreamHandler&>(*this),
                                                   [this] { return guest_.room(); });
}

// The transformed head, with framing of our own: chunked stays chunked, a fixed length is
// kept (or set, after a body rewrite).
bool Http1Session::send_request_head(std::optional<uint64_t> fixed_length) {
  const auto& req = active_->exchange->request;
  auto headers = http1::end_to_end_headers(req.headers);
  const auto& head = active_->head;
  if (fixed_length) {
    headers.push_back({"Content-Length", std::to_string(*fixed_length)});
  } else if (head.framing == http1::BodyFraming::kChunked) {
    headers.push_back({"Transfer-Encoding", "chunked"});
  } else if (head.framing == http1::BodyFraming::kContentLength) {
    headers.push_back({"Content-Length", std::to_string(head.content_length)});
  }
  if (head.upgrade) {
    if (const auto* up = policy::find_header(head.headers, "upgrade")) headers.push_back(*up);
    headers.push_back({"Connection", "Upgrade"});
  }
  auto bytes = http1::serialize_request_head(req.method, req.target, headers);
  if (!bytes) {
    reply_and_close(Reply{400, "request head cannot be forwarded"});
    return false;
  }
  upstream_->write(*bytes);
  return true;
}

void Http1Session::on_request_body(std::string body) {
  auto& a = *active_;
  if (a.request == RequestPhase::kBuffering) {
    if (a.held_body.size() + body.size() > kMaxBufferedBody) {
      return reply_and_close(Reply{413, "request body too large to inspect"});
    }
    a.held_body += body;
    return;
  }
  a.summary.request_bytes += body.size();
  if (a.head.framing == http1::BodyFraming::kChunked) {
    upstream_->write(http1::chunk(body));
  } else {
    upstream_->write(body);
  }
}

void Http1Session::on_request_end() {
  auto& a = *active_;
  if (a.request == RequestPhase::kBuffering) {
    std::string body = std::move(a.held_body);
    a.held_body.clear();
    if (auto refused = a.rewrite_body(body)) return reply_and_close(*refused);
    if (!dispatch_upstream()) return;
    if (!send_request_head(body.size())) return;
    a.summary.request_bytes += body.size();
    upstream_->write(body);
  } else if (a.head.framing == http1::BodyFraming::kChunked) {
    upstream_->write(http1::kLastChunk);
  }
  a.request = RequestPhase::kDone;
  if (a.response == ResponsePhase::kDone) on_response_end();
}

// --- upstream ----------------------------------------------------------------------------

void Http1Session::on_upstream_ready() {}

void Http1Session::on_upstream_data(std::string_view plaintext) {
  if (closing_) return;
  if (spliced_) return guest_.send(plaintext);
  response_reader_.append(plaintext);
  drain_response();
}

void Http1Session::on_upstream_eof() {
  if (closing_) return;
  if (spliced_) return close_after_flush();
  if (!active_ || active_->response == ResponsePhase::kNone) return retire_upstream();
  upstream_eof_ = true;
  response_reader_.finish();
  drain_response();
  check_truncated_response();
}

// The server closed: unless a response policy answer is pending (it drains what is left),
// an exchange still waiting for response bytes never gets them.
void Http1Session::check_truncated_response() {
  if (!upstream_eof_ || !active_ || closing_) return;
  auto phase = active_->response;
  if (phase == ResponsePhase::kAwaitPolicy || phase == ResponsePhase::kDone ||
      phase == ResponsePhase::kNone) {
    return;
  }
  on_upstream_error("upstream closed before the response ended");
}

void Http1Session::on_upstream_error(const std::string& why) {
  if (closing_) return;
  log::debug("proxy: upstream " + why);
  if (!active_) return retire_upstream();
  if (active_->response_head_sent || spliced_) return abort_connection(why);
  active_->summary.error = why;
  reply_and_close(Reply{502, "upstream failed"});
}

void Http1Session::on_upstream_drained() {
  if (active_ && active_->request == RequestPhase::kStreaming) pump();
}

void Http1Session::drain_response() {
  auto token = alive_;
  while (!closing_ && active_ && !spliced_) {
    auto phase = active_->response;
    if (phase != ResponsePhase::kAwaitHead && phase != ResponsePhase::kStreaming &&
        phase != ResponsePhase::kBuffering) {
      break;
    }
    auto event = response_reader_.next();
    if (!event) break;
    switch (event->kind) {
      case http1::ResponseEvent::Kind::kHead:
        on_response_head(std::move(event->head));
        break;
      case http1::ResponseEvent::Kind::kBody:
        on_response_body(std::move(event->body));
        break;
      case http1::ResponseEvent::Kind::kEnd:
        active_->response = ResponsePhase::kDone;
        if (active_->request == RequestPhase::kDone ||
            active_->request == RequestPhase::kStreaming) {
          on_response_end();
        }
        break;
    }
    if (!*token) return;
  }
  if (*token && response_reader_.error() && !closing_) {
    on_upstream_error("malformed response: " + *response_reader_.error());
  }
}

void Http1Session::on_response_head(http1::ResponseHead head) {
  auto& a = *active_;
  if (head.interim) {
    if (head.status == 100) return;  // we answered Expect ourselves
    auto bytes = http1::serialize_response_head(head.status, head.reason,
                                                http1::end_to_end_headers(head.headers));
    if (bytes) guest_.send(*bytes);
    return;
  }
  if (head.status == 101) {
    if (!a.head.upgrade) return on_upstream_error("101 without an upgrade request");
    a.response_head = std::move(head);
    return start_splice();
  }
  a.exchange->response.status = head.status;
  a.exchange->response.headers = head.headers;
  a.response_head = std::move(head);
  a.response = ResponsePhase::kAwaitPolicy;
  auto exchange = a.exchange;
  std::weak_ptr<bool> alive = alive_;
  services_.exchange_policy().on_response(exchange, [this, alive, exchange](ResponseOutcome o) {
    auto live = alive.lock();
    if (!live || !*live || !active_ || active_->exchange != exchange) return;
    on_response_outcome(std::move(o));
  });
}

void Http1Session::on_response_outcome(ResponseOutcome outcome) {
  auto& a = *active_;
  if (outcome.reply) return reply_and_close(*outcome.reply);
  a.filters = std::move(outcome.body_filters);
  bool whole = false;
  for (const auto& f : a.filters) whole = whole || f->needs_whole_body();
  const auto& rh = a.response_head;
  bool bodiless = rh.framing == http1::BodyFraming::kNone;
  if (bodiless) {
    a.out = OutFraming::kNone;
  } else if (whole) {
    a.out = OutFraming::kContentLength;  // decided at the end, once the body is whole
    a.response = ResponsePhase::kBuffering;
  } else if (rh.framing == http1::BodyFraming::kContentLength && a.filters.empty()) {
    a.out = OutFraming::kContentLength;
  } else {
    // Filters may change the length; a close-delimited body is better chunked than closing.
    a.out = a.head.minor_version >= 1 ? OutFraming::kChunked : OutFraming::kUntilClose;
  }
  if (a.response != ResponsePhase::kBuffering) {
    send_response_head(a.out == OutFraming::kContentLength ? std::optional(rh.content_length)
                                                           : std::nullopt);
    a.response = ResponsePhase::kStreaming;
  }
  drain_response();
  check_truncated_response();
  if (upstream_) upstream_->resume_reads();
}

void Http1Session::send_response_head(std::optional<uint64_t> fixed_length) {
  auto& a = *active_;
  auto headers = http1::end_to_end_headers(a.exchange->response.headers);
  const auto& rh = a.response_head;
  if (fixed_length) {
    headers.push_back({"Content-Length", std::to_string(*fixed_length)});
  } else if (a.out == OutFraming::kChunked) {
    headers.push_back({"Transfer-Encoding", "chunked"});
  } else if (a.out == OutFraming::kNone && rh.framing == http1::BodyFraming::kNone) {
    // A HEAD response's length describes the body it did not send: pass it on.
    if (const auto* cl = policy::find_header(rh.headers, "content-length")) headers.push_back(*cl);
  }
  if (a.out == OutFraming::kUntilClose) headers.push_back({"Connection", "close"});
  auto bytes = http1::serialize_response_head(a.exchange->response.status, rh.reason, headers);
  if (!bytes) return abort_connection("response head cannot be forwarded");
  guest_.send(*bytes);
  a.response_head_sent = true;
}

std::string Http1Session::filter(std::string bytes) {
  for (auto& f : active_->filters) bytes = f->on_data(bytes);
  return bytes;
}

// Each filter's tail goes through the filters after it.
std::string Http1Session::filter_end() {
  auto& filters = active_->filters;
  std::string out;
  for (size_t i = 0; i < filters.size(); ++i) {
    out = filters[i]->on_data(out);
    out += filters[i]->on_end();
  }
  return out;
}

void Http1Session::on_response_body(std::string body) {
  auto& a = *active_;
  if (a.response == ResponsePhase::kBuffering) {
    if (a.held_body.size() + body.size() > kMaxBufferedBody) {
      a.summary.error = "response body too large to filter";
      return reply_and_close(Reply{502, "response body too large to filter"});
    }
    a.held_body += body;
    return;
  }
  send_body_to_guest(filter(std::move(body)));
}

void Http1Session::send_body_to_guest(std::string_view bytes) {
  if (bytes.empty()) return;
  auto& a = *active_;
  a.summary.response_bytes += bytes.size();
  if (a.out == OutFraming::kChunked) {
    guest_.send(http1::chunk(bytes));
  } else {
    guest_.send(bytes);
  }
}

void Http1Session::on_response_end() {
  auto& a = *active_;
  if (a.response_head_sent == false && a.response == ResponsePhase::kDone &&
      a.out == OutFraming::kContentLength) {
    // Buffered for a whole-body filter: run the filters over it and send with its length.
    std::string body = filter(std::move(a.held_body));
    body += filter_end();
    send_response_head(body.size());
    if (!active_ || closing_) return;
    send_body_to_guest(body);
  } else if (!a.response_head_sent) {
    return;  // still waiting for the response policy
  } else {
    send_body_to_guest(filter_end());
    if (a.out == OutFraming::kChunked) guest_.send(http1::kLastChunk);
  }
  // The guest's connection outlives an upstream that closes: its next request dials again.
  bool keep = a.head.keep_alive && a.out != OutFraming::kUntilClose &&
              a.request == RequestPhase::kDone && !a.head.upgrade;
  bool upstream_reusable = a.response_head.keep_alive && a.request == RequestPhase::kDone;
  finish_exchange();
  if (!upstream_reusable) retire_upstream();
  if (!keep) return close_after_flush();
  pump();
}

void Http1Session::start_splice() {
  auto& a = *active_;
  auto headers = a.response_head.headers;  // Upgrade and Connection are the point here
  auto bytes = http1::serialize_response_head(101, a.response_head.reason, headers);
  if (!bytes) return abort_connection("101 head cannot be forwarded");
  a.exchange->response.status = 101;
  a.exchange->response.headers = a.response_head.headers;
  guest_.send(*bytes);
  a.response_head_sent = true;
  spliced_ = true;
  finish_exchange();
  std::string from_server = response_reader_.take_opaque();
  if (!from_server.empty()) guest_.send(from_server);
  std::string from_guest = reader_.take_opaque();
  if (!from_guest.empty()) upstream_->write(from_guest);
  guest_.input_consumed();
}

// --- endings -----------------------------------------------------------------------------

void Http1Session::finish_exchange(std::string error) {
  if (!active_) return;
  Active done = std::move(*active_);
  active_.reset();
  if (!error.empty()) {
    for (auto& f : done.filters) f->on_abort();
    if (done.summary.error.empty()) done.summary.error = std::move(error);
  }
  done.summary.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - done.exchange->started);
  services_.exchange_policy().on_finished(*done.exchange, done.summary);
}

void Http1Session::reply_and_close(const Reply& reply) {
  std::string host = active_ ? active_->exchange->request.host : "";
  if (host.empty()) host = ipv4_text(facts_.destination.ip);
  if (active_) {
    if (active_->response_head_sent) return abort_connection(reply.reason);
    active_->summary.replied = reply;
    finish_exchange();
  }
  closing_ = true;
  if (upstream_) upstream_->reset();
  retire_upstream();
  guest_.send(render_reply(reply, host));
  guest_.end();
}

void Http1Session::abort_connection(const std::string& why) {
  log::debug("proxy: connection aborted: " + why);
  if (active_) finish_exchange(why);
  closing_ = true;
  if (upstream_) upstream_->reset();
  retire_upstream();
  guest_.abort();
}

void Http1Session::close_after_flush() {
  if (closing_) return;
  closing_ = true;
  retire_upstream();
  guest_.end();
}

// Never destroyed from inside its own callback: the socket goes on a later loop turn.
void Http1Session::retire_upstream() {
  if (!upstream_) return;
  upstream_->detach();  // no callback reaches this session any more
  std::shared_ptr<UpstreamConnection> old(std::move(upstream_));
  upstream_.reset();
  uv::defer(loop_, [old] {});
}

}  // namespace matchlock::net::proxy
