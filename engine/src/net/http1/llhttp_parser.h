// A thin owner of one llhttp parser that stops at the end of each message (so pipelined
// messages wait for their turn) and reports whether a head completed on the way. Body bytes
// are collected de-chunked (llhttp removes the chunk framing).
//
// THREAT MODEL: requests are the guest's bytes, responses an upstream server's. llhttp runs
// in its strict mode (no leniency flags), header fields are bounded (kMaxHeadBytes in all,
// kMaxHeaderFields fields), and every parse error ends the message stream for good.
#pragma once

#include <llhttp.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/request.h"

namespace matchlock::net::http1 {

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr size_t kMaxHeaderFields = 256;

class LlhttpParser {
 public:
  explicit LlhttpParser(llhttp_type_t type);
  LlhttpParser(const LlhttpParser&) = delete;
  LlhttpParser& operator=(const LlhttpParser&) = delete;

  struct Step {
    size_t consumed = 0;
    bool head_done = false;     // a head completed in this call (read headers() etc. now)
    bool message_done = false;  // the message ended; parsing stopped right after it
  };
  // Parses a prefix of `data`, stopping after a message. Body bytes met on the way are
  // appended to body(). kProtocol on a parse error (and every call after it).
  Result<Step> execute(std::string_view data);
  // The stream ended (peer closed): completes a body delimited by the close.
  Result<Step> finish();

  // Valid from kHeadDone on (until the next message starts).
  const std::vector<policy::HeaderField>& headers() const { return headers_; }
  const std::string& url() const { return url_; }
  const std::string& status_text() const { return status_text_; }
  int status_code() const;
  uint8_t method() const;
  int minor_version() const;
  bool chunked() const { return chunked_; }
  bool has_content_length() const { return has_content_length_; }
  uint64_t content_length() const { return content_length_; }  // as the head said
  bool keep_alive() const { return keep_alive_; }
  bool upgrade() const { return upgrade_; }
  bool needs_eof() const { return needs_eof_; }
  // Body bytes collected so far (take them with std::move and clear()).
  std::string& body() { return body_; }
  // Responses: the request was HEAD (no body, whatever the head says).
  void set_skip_body(bool skip) { skip_body_ = skip; }

 private:
  static int on_message_begin(llhttp_t* p);
  static int on_url(llhttp_t* p, const char* at, size_t length);
  static int on_status(llhttp_t* p, const char* at, size_t length);
  static int on_header_field(llhttp_t* p, const char* at, size_t length);
  static int on_header_value(llhttp_t* p, const char* at, size_t length);
  static int on_headers_complete(llhttp_t* p);
  static int on_body(llhttp_t* p, const char* at, size_t length);
  static int on_message_complete(llhttp_t* p);
  int grow_head(size_t length);

  llhttp_settings_t settings_;
  llhttp_t parser_;
  std::vector<policy::HeaderField> headers_;
  bool in_value_ = false;
  std::string url_;
  std::string status_text_;
  size_t head_bytes_ = 0;
  std::string body_;
  bool skip_body_ = false;
  uint64_t content_length_ = 0;
  bool chunked_ = false;
  bool has_content_length_ = false;
  bool keep_alive_ = true;
  bool upgrade_ = false;
  bool needs_eof_ = false;
  bool head_done_ = false;
  bool message_done_ = false;
  bool failed_ = false;
  std::string error_;
};

}  // namespace matchlock::net::http1
