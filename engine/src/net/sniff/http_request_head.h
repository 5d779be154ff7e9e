// Parses an HTTP/1.x request head (request line + header fields up to CRLFCRLF).
//
// THREAT MODEL: guest-controlled bytes, and a second parser (the upstream server) reads the
// same bytes. Anything two parsers could read differently is rejected, not guessed: bare LF or
// CR, obs-fold, whitespace before ':', several Host / Content-Length / Transfer-Encoding
// fields, Content-Length with Transfer-Encoding, an absolute-form target whose host differs
// from Host (domain fronting), userinfo in the authority. Input beyond kMaxHttpHeadBytes is
// never examined.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace matchlock::net::sniff {

constexpr size_t kMaxHttpHeadBytes = 32 * 1024;
constexpr size_t kMaxHttpMethodLength = 32;
constexpr size_t kMaxHttpHeaderFields = 256;
// 2^53: more than any real upload, small enough to count without overflow.
constexpr uint64_t kMaxHttpContentLength = uint64_t{1} << 53;

struct HttpHeaderField {
  std::string name;   // as sent (compare case-insensitively)
  std::string value;  // leading/trailing SP/HTAB removed
};

enum class HttpBodyFraming { kNone, kContentLength, kChunked };

struct HttpRequestHead {
  std::string method;
  std::string target;
  std::string version;  // "HTTP/1.0" or "HTTP/1.1"
  // From the absolute-form target or the Host field, normalized by host_from_authority
  // (lowercase, no port, no brackets, no trailing dot). Empty only for HTTP/1.0 without Host.
  std::string host;
  std::vector<HttpHeaderField> headers;
  size_t head_size = 0;  // bytes of the head including the final CRLFCRLF
  HttpBodyFraming body_framing = HttpBodyFraming::kNone;
  uint64_t content_length = 0;  // kContentLength only
  // An Upgrade field was sent (WebSocket, h2c): if the server answers 101 the rest of the
  // connection is not HTTP/1.x any more.
  bool upgrade = false;
};

struct HttpHeadParseResult {
  enum class Status {
    kNeedMore,   // a valid prefix; read more
    kComplete,   // `head` is filled
    kNotHttp,    // the first bytes are not an HTTP/1.x request line
    kMalformed,  // started as HTTP/1.x but breaks the rules above (answer 400 and close)
  };
  Status status = Status::kNotHttp;
  HttpRequestHead head;
  std::string error;  // kMalformed: why, for logs and the event stream
};

// `bytes` starts at the first byte of a request; bytes after the head are ignored.
HttpHeadParseResult parse_http_request_head(std::string_view bytes);

}  // namespace matchlock::net::sniff
