// A streaming transformer of one HTTP body, created per exchange by a plugin that wants to see
// (usage_logger) or change (interception rules' body replacements) what flows through. The
// proxy pushes the body through every filter in order as it arrives, so streamed responses
// (SSE, chunked downloads) are forwarded as they come, never buffered whole, unless a filter
// asks for the whole body.
//
// Threat model: the bytes are the guest's or an upstream server's; a filter bounds whatever it
// keeps (a partial SSE line, a JSON document it parses at the end) and passes on, untouched,
// what it cannot understand.
#pragma once

#include <string>
#include <string_view>

namespace matchlock::net::policy {

class BodyFilter {
 public:
  virtual ~BodyFilter() = default;

  // True when the filter must see the whole body before any of it is sent (a replacement of
  // the entire body, a find/replace on a non-streamed body): the proxy then buffers the body
  // (bounded; over the bound the exchange fails with 502) and sends the result with a fixed
  // Content-Length instead of the original framing.
  virtual bool needs_whole_body() const { return false; }

  // One piece of the body, in order; returns the bytes to pass on (to the next filter, then
  // the peer). May return less (held back, e.g. an incomplete SSE line) or more.
  virtual std::string on_data(std::string_view chunk) = 0;

  // The body ended normally: whatever was held back, plus anything to append.
  virtual std::string on_end() { return {}; }

  // The exchange ended before the body did (peer gone, guest gone): no more calls follow.
  virtual void on_abort() {}
};

}  // namespace matchlock::net::policy
