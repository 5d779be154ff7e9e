// The proxy's HTTP/1.x response reader (engine/src/net/http1/response_reader.cpp, llhttp in
// strict mode) over an upstream server's bytes: the real internet, so hostile too. Each
// response answers a GET or a HEAD (chosen by the input), and the server may close at the end.
// Invariants: the events (heads with their status, framing and interim mark, de-chunked bodies,
// ends) do not depend on how the stream is cut into reads; an error is sticky; a HEAD's
// response and a 204 or 304 carry no body; interim (1xx) heads end nothing and a final head
// follows them before the end; every end closes a final head; nothing follows a 101.
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "net/http1/response_reader.h"

namespace http1 = matchlock::net::http1;
using Kind = http1::ResponseEvent::Kind;

namespace {

struct Outcome {
  std::vector<std::string> trace;  // heads and ends, with the body bytes between them joined
  bool failed = false;
};

class Reading {
 public:
  Reading(uint32_t head_mask, Outcome& out) : head_mask_(head_mask), out_(out) { expect_next(); }

  void drain() {
    // Each event consumes input or ends a message, so the loop is bounded by the input size.
    while (auto event = reader_.next()) {
      FUZZ_CHECK(!upgraded_);
      switch (event->kind) {
        case Kind::kHead: {
          const auto& h = event->head;
          FUZZ_CHECK(!in_final_);  // one final head per response
          FUZZ_CHECK(h.interim == (h.status >= 100 && h.status < 200 && h.status != 101));
          in_final_ = !h.interim;
          no_body_ = method_ == "HEAD" || h.status == 204 || h.status == 304;
          upgraded_ = h.status == 101;
          out_.trace.push_back("head " + std::to_string(h.status) + " " + h.reason + " " +
                               std::to_string(static_cast<int>(h.framing)) + " " +
                               std::to_string(h.content_length) + (h.interim ? " interim" : ""));
          out_.trace.emplace_back();  // the body joins here
          break;
        }
        case Kind::kBody:
          FUZZ_CHECK(in_final_ && !no_body_ && !event->body.empty());
          out_.trace.back() += event->body;
          break;
        case Kind::kEnd:
          FUZZ_CHECK(in_final_);
          in_final_ = false;
          out_.trace.push_back("end");
          expect_next();
          break;
      }
    }
  }

  http1::ResponseReader& reader() { return reader_; }

 private:
  // The proxy tells the reader each request's method before its response.
  void expect_next() {
    method_ = (head_mask_ >> (responses_++ % 32)) & 1 ? "HEAD" : "GET";
    reader_.expect_response_to(method_);
  }

  http1::ResponseReader reader_;
  uint32_t head_mask_;
  Outcome& out_;
  std::string method_;
  size_t responses_ = 0;
  bool in_final_ = false;
  bool no_body_ = false;
  bool upgraded_ = false;
};

Outcome read(std::string_view input, size_t chunk, uint32_t head_mask, bool server_closes) {
  Outcome out;
  Reading r(head_mask, out);
  for (size_t off = 0; off < input.size() && !r.reader().error(); off += chunk) {
    r.reader().append(input.substr(off, chunk));
    r.drain();
  }
  if (server_closes && !r.reader().error()) {
    r.reader().finish();
    r.drain();
  }
  if (r.reader().error()) {
    FUZZ_CHECK(!r.reader().next());  // sticky
    out.failed = true;
  }
  (void)r.reader().take_opaque();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const size_t chunk = 1 + data[0] % 29;
  const uint32_t head_mask = data[1];  // bit i: response i answers a HEAD
  const bool server_closes = data[2] & 1;
  std::string_view input = matchlock::fuzz::as_text(data + 3, size - 3);
  Outcome whole = read(input, input.size() + 1, head_mask, server_closes);
  Outcome pieces = read(input, chunk, head_mask, server_closes);
  FUZZ_CHECK(whole.failed == pieces.failed);
  if (!whole.failed) FUZZ_CHECK(whole.trace == pieces.trace);
  return 0;
}
