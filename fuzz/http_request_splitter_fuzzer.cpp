// The HTTP/1.x request splitter (engine/src/net/sniff/http_request_splitter.cpp): a keep-alive
// connection's guest->server bytes cut into requests, each checked against its own Host.
// Invariants: what the caller forwards (raw heads and body slices, in order) is the input, byte
// for byte, all of it at a request boundary (only an incomplete head is held back); heads stay
// within kMaxHttpHeadBytes; every head before an end is matched by one kRequestEnd; the result does
// not depend on how the stream is cut into reads.
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "host_check.h"
#include "net/sniff/http_request_splitter.h"

namespace sniff = matchlock::net::sniff;
using Kind = sniff::HttpStreamEvent::Kind;

namespace {

struct Outcome {
  std::string forwarded;           // raw heads + body/opaque bytes, in order
  std::vector<std::string> trace;  // one entry per event: kind and head host/target
  bool failed = false;
};

Outcome split(std::string_view input, size_t chunk) {
  Outcome out;
  sniff::HttpRequestSplitter splitter;
  size_t heads = 0, ends = 0;
  for (size_t off = 0; off < input.size(); off += chunk) {
    std::string_view piece = input.substr(off, chunk);
    auto events = splitter.feed(piece);
    if (!events.ok()) {
      out.failed = true;
      break;
    }
    std::string from_piece;
    for (const auto& e : *events) {
      switch (e.kind) {
        case Kind::kRequestHead:
          FUZZ_CHECK(e.raw_head.size() <= sniff::kMaxHttpHeadBytes && e.bytes.empty());
          FUZZ_CHECK(e.head.head_size == e.raw_head.size());
          if (!e.head.host.empty()) matchlock::fuzz::check_policy_host(e.head.host);
          ++heads;
          out.forwarded += e.raw_head;
          out.trace.push_back("head " + e.head.host + " " + e.head.target);
          break;
        case Kind::kBodyBytes:
        case Kind::kOpaqueBytes:
          // Views into this read's input, never copies from elsewhere.
          FUZZ_CHECK(e.bytes.empty() ||
                     (e.bytes.data() >= piece.data() &&
                      e.bytes.data() + e.bytes.size() <= piece.data() + piece.size()));
          from_piece.append(e.bytes);
          out.forwarded.append(e.bytes);
          break;
        case Kind::kRequestEnd:
          ++ends;
          FUZZ_CHECK(ends <= heads);
          out.trace.push_back("end");
          break;
      }
    }
  }
  // Without an error what is forwarded is the input in order, nothing invented; only a head
  // still incomplete is held back, so at a request boundary it is all of the input.
  if (!out.failed) {
    FUZZ_CHECK(input.substr(0, out.forwarded.size()) == out.forwarded);
    if (splitter.at_request_boundary()) FUZZ_CHECK(out.forwarded == input);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 31;
  std::string_view input = matchlock::fuzz::as_text(data + 1, size - 1);
  Outcome whole = split(input, input.size() + 1);
  Outcome pieces = split(input, chunk);
  FUZZ_CHECK(whole.failed == pieces.failed);
  if (!whole.failed) {
    FUZZ_CHECK(whole.trace == pieces.trace);
    FUZZ_CHECK(whole.forwarded == pieces.forwarded);
  }
  return 0;
}
