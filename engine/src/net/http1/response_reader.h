// Reads one upstream connection's responses, one event at a time. It must be told each
// request's method (a response to HEAD has no body whatever its head says); 204 and 304 have
// none either, a response without length ends when the server closes (finish()), and 1xx
// interim heads (100 Continue, 103) come as heads marked `interim` before the final one.
//
// THREAT MODEL: the bytes are an upstream server's (the real internet): llhttp strict mode,
// the head bounded (kMaxHeadBytes, kMaxHeaderFields); errors end the stream.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "net/http1/llhttp_parser.h"
#include "net/http1/message.h"

namespace matchlock::net::http1 {

struct ResponseEvent {
  enum class Kind { kHead, kBody, kEnd };
  Kind kind = Kind::kHead;
  ResponseHead head;  // kHead
  std::string body;   // kBody
};

class ResponseReader {
 public:
  ResponseReader();

  // Before each request's response: its method ("HEAD" suppresses the body).
  void expect_response_to(std::string_view method);
  void append(std::string_view bytes) { input_.append(bytes); }
  // The server closed: a close-delimited body ends here; anything else incomplete fails.
  void finish() { eof_ = true; }
  // The next event, or nullopt until more bytes come. Errors: error() then says why.
  std::optional<ResponseEvent> next();
  const std::optional<std::string>& error() const { return error_; }
  size_t buffered() const { return input_.size(); }
  // After a 101: the bytes that followed the head, for the raw splice.
  std::string take_opaque();

 private:
  void parse();

  std::unique_ptr<LlhttpParser> parser_;
  std::string input_;
  std::deque<ResponseEvent> events_;
  bool eof_ = false;
  bool eof_done_ = false;
  bool upgraded_ = false;
  bool interim_ = false;  // the message being parsed is a 1xx interim response
  std::optional<std::string> error_;
};

}  // namespace matchlock::net::http1
