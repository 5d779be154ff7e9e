#include "net/http1/response_reader.h"

namespace matchlock::net::http1 {

ResponseReader::ResponseReader() : parser_(std::make_unique<LlhttpParser>(HTTP_RESPONSE)) {}

void ResponseReader::expect_response_to(std::string_view method) {
  parser_->set_skip_body(method == "HEAD");
}

std::optional<ResponseEvent> ResponseReader::next() {
  if (events_.empty() && !error_ && !upgraded_) parse();
  if (events_.empty()) return std::nullopt;
  ResponseEvent event = std::move(events_.front());
  events_.pop_front();
  return event;
}

void ResponseReader::parse() {
  Result<LlhttpParser::Step> step = LlhttpParser::Step{};
  if (!input_.empty()) {
    step = parser_->execute(input_);
  } else if (eof_ && !eof_done_) {
    eof_done_ = true;
    step = parser_->finish();
  } else {
    return;
  }
  if (!step) {
    error_ = step.error().message;
    return;
  }
  input_.erase(0, step->consumed);
  if (step->head_done) {
    ResponseEvent head_event;
    ResponseHead& head = head_event.head;
    head.status = parser_->status_code();
    head.reason = parser_->status_text();
    head.minor_version = parser_->minor_version();
    head.headers = parser_->headers();
    head.keep_alive = parser_->keep_alive();
    head.interim = head.status >= 100 && head.status < 200 && head.status != 101;
    interim_ = head.interim;
    if (parser_->chunked()) {
      head.framing = BodyFraming::kChunked;
    } else if (parser_->has_content_length()) {
      head.framing =
          parser_->content_length() > 0 ? BodyFraming::kContentLength : BodyFraming::kNone;
      head.content_length = parser_->content_length();
    } else if (step->message_done && parser_->body().empty()) {
      head.framing = BodyFraming::kNone;
    } else {
      head.framing = parser_->needs_eof() ? BodyFraming::kUntilClose : BodyFraming::kNone;
    }
    if (head.status == 101) upgraded_ = true;
    events_.push_back(std::move(head_event));
  }
  if (!parser_->body().empty()) {
    events_.push_back({ResponseEvent::Kind::kBody, {}, std::move(parser_->body())});
    parser_->body().clear();
  }
  if (step->message_done) {
    // An interim response's end is nobody's business: the final head follows.
    if (!interim_ && !upgraded_) events_.push_back({ResponseEvent::Kind::kEnd, {}, {}});
    interim_ = false;
  }
  if (events_.empty() && !input_.empty() && step->consumed > 0) parse();
}

std::string ResponseReader::take_opaque() {
  std::string out = std::move(input_);
  input_.clear();
  return out;
}

}  // namespace matchlock::net::http1
