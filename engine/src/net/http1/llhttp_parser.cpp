#include "net/http1/llhttp_parser.h"

namespace matchlock::net::http1 {
namespace {

LlhttpParser& self(llhttp_t* p) {
  return *static_cast<LlhttpParser*>(p->data);
}

}  // namespace

LlhttpParser::LlhttpParser(llhttp_type_t type) {
  llhttp_settings_init(&settings_);
  settings_.on_message_begin = on_message_begin;
  settings_.on_url = on_url;
  settings_.on_status = on_status;
  settings_.on_header_field = on_header_field;
  settings_.on_header_value = on_header_value;
  settings_.on_headers_complete = on_headers_complete;
  settings_.on_body = on_body;
  settings_.on_message_complete = on_message_complete;
  llhttp_init(&parser_, type, &settings_);
  parser_.data = this;
}

int LlhttpParser::grow_head(size_t length) {
  head_bytes_ += length;
  if (head_bytes_ > kMaxHeadBytes) {
    error_ = "header section too large";
    return -1;
  }
  return 0;
}

int LlhttpParser::on_message_begin(llhttp_t* p) {
  auto& s = self(p);
  s.headers_.clear();
  s.in_value_ = false;
  s.url_.clear();
  s.status_text_.clear();
  s.head_bytes_ = 0;
  return 0;
}

int LlhttpParser::on_url(llhttp_t* p, const char* at, size_t length) {
  auto& s = self(p);
  s.url_.append(at, length);
  return s.grow_head(length);
}

int LlhttpParser::on_status(llhttp_t* p, const char* at, size_t length) {
  auto& s = self(p);
  s.status_text_.append(at, length);
  return s.grow_head(length);
}

int LlhttpParser::on_header_field(llhttp_t* p, const char* at, size_t length) {
  auto& s = self(p);
  // A field name after a value starts a new field; llhttp may deliver either in pieces.
  if (s.headers_.empty() || s.in_value_) {
    if (s.headers_.size() >= kMaxHeaderFields) {
      s.error_ = "too many header fields";
      return -1;
    }
    s.headers_.push_back({});
    s.in_value_ = false;
  }
  s.headers_.back().name.append(at, length);
  return s.grow_head(length);
}

int LlhttpParser::on_header_value(llhttp_t* p, const char* at, size_t length) {
  auto& s = self(p);
  if (s.headers_.empty()) return -1;
  s.in_value_ = true;
  s.headers_.back().value.append(at, length);
  return s.grow_head(length);
}

int LlhttpParser::on_headers_complete(llhttp_t* p) {
  auto& s = self(p);
  s.head_done_ = true;
  // Snapshot the framing now: llhttp counts content_length down as the body arrives and
  // resets its flags when the message ends.
  s.content_length_ = p->content_length;
  s.chunked_ = (p->flags & F_CHUNKED) != 0;
  s.has_content_length_ = (p->flags & F_CONTENT_LENGTH) != 0;
  s.keep_alive_ = llhttp_should_keep_alive(p) != 0;
  s.upgrade_ = p->upgrade != 0;
  s.needs_eof_ = llhttp_message_needs_eof(p) != 0;
  // 1: "this message has no body": a response to HEAD, and 204 / 304 / 1xx whatever length
  // they claim (RFC 9112 6.3; llhttp itself would read a 304's Content-Length as a body).
  bool bodiless_status =
      p->type == HTTP_RESPONSE && (p->status_code == 204 || p->status_code == 304 ||
                                   (p->status_code >= 100 && p->status_code < 200));
  return s.skip_body_ || bodiless_status ? 1 : 0;
}

int LlhttpParser::on_body(llhttp_t* p, const char* at, size_t length) {
  self(p).body_.append(at, length);
  return 0;
}

int LlhttpParser::on_message_complete(llhttp_t* p) {
  self(p).message_done_ = true;
  return HPE_PAUSED;
}

Result<LlhttpParser::Step> LlhttpParser::execute(std::string_view data) {
  if (failed_) return Error(ErrorCode::kProtocol, "HTTP stream already failed: " + error_);
  head_done_ = message_done_ = false;
  if (data.empty()) return Step{};
  llhttp_errno_t rc = llhttp_execute(&parser_, data.data(), data.size());
  Step step;
  step.consumed = data.size();
  if (rc == HPE_PAUSED || rc == HPE_PAUSED_UPGRADE) {
    step.consumed = static_cast<size_t>(llhttp_get_error_pos(&parser_) - data.data());
    // After an upgrade the rest is not HTTP/1.1: the owner stops parsing for good.
    if (rc == HPE_PAUSED) llhttp_resume(&parser_);
    step.message_done = true;
    step.head_done = head_done_;
    return step;
  }
  if (rc != HPE_OK) {
    failed_ = true;
    if (error_.empty())
      error_ = llhttp_get_error_reason(&parser_) ? llhttp_get_error_reason(&parser_) : "malformed";
    return Error(ErrorCode::kProtocol, error_);
  }
  step.head_done = head_done_;
  step.message_done = message_done_;
  return step;
}

Result<LlhttpParser::Step> LlhttpParser::finish() {
  if (failed_) return Error(ErrorCode::kProtocol, "HTTP stream already failed: " + error_);
  head_done_ = message_done_ = false;
  llhttp_errno_t rc = llhttp_finish(&parser_);
  if (rc != HPE_OK && rc != HPE_PAUSED) {
    failed_ = true;
    error_ = "stream ended inside a message";
    return Error(ErrorCode::kProtocol, error_);
  }
  return Step{0, false, message_done_};
}

int LlhttpParser::status_code() const {
  return parser_.status_code;
}
uint8_t LlhttpParser::method() const {
  return parser_.method;
}
int LlhttpParser::minor_version() const {
  return parser_.http_minor;
}

}  // namespace matchlock::net::http1
