// The HTTP/1.1 message heads the proxy reads and writes, independent of the parser behind them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "net/policy/request.h"

namespace matchlock::net::http1 {

enum class BodyFraming {
  kNone,           // no body (GET without length, HEAD response, 204, 304, 1xx)
  kContentLength,  // exactly content_length bytes
  kChunked,        // Transfer-Encoding: chunked
  kUntilClose,     // responses only: the body ends when the server closes
};

struct RequestHead {
  std::string method;
  std::string target;     // origin form ("/path?query"); absolute-form targets are reduced to it
  int minor_version = 1;  // HTTP/1.<minor>
  std::string host;       // normalized (policy::host_from_authority); empty if none was named
  std::vector<policy::HeaderField> headers;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool expect_continue = false;  // "Expect: 100-continue"
  bool upgrade = false;          // an Upgrade request (WebSocket): 101 turns the rest raw
};

struct ResponseHead {
  int status = 0;
  std::string reason;
  int minor_version = 1;
  std::vector<policy::HeaderField> headers;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool interim = false;  // 1xx other than 101: another head follows for the same request
};

}  // namespace matchlock::net::http1
