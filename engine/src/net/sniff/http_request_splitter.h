// Splits the guest→server byte stream of an HTTP/1.x connection into requests, so that each
// request on a keep-alive (or pipelined) connection is checked against its own Host.
//
// THREAT MODEL: guest bytes. The splitter buffers at most one request head
// (kMaxHttpHeadBytes) and one chunk-size or trailer line; body bytes are never buffered, only
// counted, whatever length the guest claims. Chunked framing is validated strictly (hex size,
// CRLF after data, trailers) because a framing disagreement with the server is request
// smuggling. Once an error is returned the splitter stays failed: close the connection.
//
// Caller contract:
//  * Run the gate on every kRequestHead before forwarding its bytes. If the host differs from
//    the one the current upstream connection was opened for, do not reuse that connection.
//  * A head with `upgrade` is followed (after its body) by kOpaqueBytes only: if the server
//    answers 101, tunnel them; if it does not, close the connection after the response
//    (those bytes would otherwise reach the server as an unchecked request).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/sniff/http_request_head.h"

namespace matchlock::net::sniff {

// A chunk-size line ("1a2b;ext=v") or one trailer line.
constexpr size_t kMaxChunkLineBytes = 4 * 1024;
constexpr size_t kMaxChunkSizeDigits = 13;  // < 2^52 per chunk
constexpr size_t kMaxTrailerBytes = 32 * 1024;

struct HttpStreamEvent {
  enum class Kind {
    kRequestHead,  // `head` is filled; the head's bytes are in `raw_head` (`bytes` empty)
    kBodyBytes,    // `bytes` is body framing + data, a slice of the input given to feed()
    kRequestEnd,   // the request's body is complete
    kOpaqueBytes,  // after an Upgrade request: `bytes` is a slice of the input
  };
  Kind kind = Kind::kBodyBytes;
  HttpRequestHead head;
  std::string raw_head;
  std::string_view bytes;
};

class HttpRequestSplitter {
 public:
  // Consumes `input` entirely. Returned kBodyBytes/kOpaqueBytes views point into `input`
  // (valid as long as it is). Forward, in order: raw_head of each kRequestHead, then `bytes` of
  // the body events. Errors are kProtocol.
  Result<std::vector<HttpStreamEvent>> feed(std::string_view input);

  // True between requests (no partial head or body pending): a clean place to close.
  bool at_request_boundary() const { return state_ == State::kHead && head_buffer_.empty(); }

 private:
  enum class State {
    kHead,
    kFixedBody,
    kChunkSizeLine,
    kChunkData,
    kChunkDataCr,
    kChunkDataLf,
    kTrailerLine,
    kOpaque,
    kFailed,
  };

  Status fail(std::string message);
  // Each step consumes a prefix of `input`, appends events, and returns the bytes consumed.
  Result<size_t> step_head(std::string_view input, std::vector<HttpStreamEvent>& events);
  Result<size_t> step_chunk_line(std::string_view input);
  void finish_request(std::vector<HttpStreamEvent>& events);

  State state_ = State::kHead;
  std::string head_buffer_;  // bytes of a head not yet complete
  std::string line_buffer_;  // chunk-size or trailer line not yet complete
  uint64_t remaining_ = 0;   // kFixedBody / kChunkData
  size_t trailer_bytes_ = 0;
  bool upgrade_after_request_ = false;
};

}  // namespace matchlock::net::sniff
