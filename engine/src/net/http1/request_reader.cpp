#include "net/http1/request_reader.h"

#include "core/ascii.h"
#include "net/sniff/http_request_head.h"

namespace matchlock::net::http1 {

std::string origin_form(std::string_view target) {
  size_t scheme = target.find("://");
  if (target.empty() || target[0] == '/' || scheme == std::string_view::npos) {
    return std::string(target);
  }
  std::string_view rest = target.substr(scheme + 3);
  size_t path = rest.find_first_of("/?");
  if (path == std::string_view::npos) return "/";
  std::string out(rest.substr(path));
  if (out[0] == '?') out.insert(out.begin(), '/');
  return out;
}

RequestReader::RequestReader() : parser_(std::make_unique<LlhttpParser>(HTTP_REQUEST)) {}

std::optional<RequestEvent> RequestReader::fail(int status, std::string reason) {
  if (!error_) error_ = RequestError{status, std::move(reason)};
  return std::nullopt;
}

std::optional<RequestEvent> RequestReader::next() {
  if (error_ || upgraded_) return std::nullopt;
  return in_message_ ? read_body() : read_head();
}

std::optional<RequestEvent> RequestReader::read_head() {
  if (input_.empty()) return std::nullopt;
  auto parsed = sniff::parse_http_request_head(input_);
  using S = sniff::HttpHeadParseResult::Status;
  if (parsed.status == S::kNeedMore) {
    if (input_.size() >= sniff::kMaxHttpHeadBytes) {
      return fail(431, "request header section too large");
    }
    return std::nullopt;
  }
  if (parsed.status == S::kMalformed && input_.size() >= sniff::kMaxHttpHeadBytes &&
      parsed.error.find("larger than") != std::string::npos) {
    return fail(431, parsed.error);
  }
  if (parsed.status != S::kComplete) {
    return fail(400, parsed.error.empty() ? "not an HTTP/1.x request" : parsed.error);
  }
  const auto& h = parsed.head;
  // A tunnel inside an intercepted connection would carry bytes no policy ever sees.
  if (h.method == "CONNECT") return fail(400, "CONNECT is not supported here");
  // The same bytes through llhttp: it must see exactly one complete head there.
  auto step = parser_->execute(std::string_view(input_).substr(0, h.head_size));
  if (!step) return fail(400, step.error().message);
  if (!step->head_done || step->consumed != h.head_size) {
    return fail(400, "request head framing disagreement");
  }
  input_.erase(0, h.head_size);
  RequestEvent event;
  RequestHead& head = event.head;
  head.method = h.method;
  head.target = origin_form(h.target);
  head.minor_version = parser_->minor_version();
  head.host = h.host;
  for (const auto& f : h.headers) head.headers.push_back({f.name, f.value});
  switch (h.body_framing) {
    case sniff::HttpBodyFraming::kNone:
      head.framing = BodyFraming::kNone;
      break;
    case sniff::HttpBodyFraming::kContentLength:
      head.framing = h.content_length > 0 ? BodyFraming::kContentLength : BodyFraming::kNone;
      head.content_length = h.content_length;
      break;
    case sniff::HttpBodyFraming::kChunked:
      head.framing = BodyFraming::kChunked;
      break;
  }
  head.keep_alive = parser_->keep_alive();
  head.upgrade = h.upgrade && parser_->upgrade();
  if (const auto* expect = policy::find_header(head.headers, "expect")) {
    head.expect_continue = equals_ignoring_ascii_case(expect->value, "100-continue");
  }
  // A message without a body is complete with its head; its end is the next event.
  in_message_ = true;
  upgrade_pending_ = head.upgrade;
  pending_end_ = step->message_done;
  return event;
}

std::optional<RequestEvent> RequestReader::read_body() {
  if (pending_end_) {
    pending_end_ = false;
    in_message_ = false;
    if (upgrade_pending_) upgraded_ = true;
    return RequestEvent{RequestEvent::Kind::kEnd, {}, {}};
  }
  if (input_.empty()) return std::nullopt;
  auto step = parser_->execute(input_);
  if (!step) return fail(400, step.error().message);
  input_.erase(0, step->consumed);
  pending_end_ = step->message_done;
  std::string body = std::move(parser_->body());
  parser_->body().clear();
  if (!body.empty()) return RequestEvent{RequestEvent::Kind::kBody, {}, std::move(body)};
  return read_body();
}

std::string RequestReader::take_opaque() {
  std::string out = std::move(input_);
  input_.clear();
  return out;
}

}  // namespace matchlock::net::http1
