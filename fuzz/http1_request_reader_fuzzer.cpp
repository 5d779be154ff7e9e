// The proxy's HTTP/1.x request reader (engine/src/net/http1/request_reader.cpp): the strict
// head check, then llhttp framing in strict mode, over a guest connection's bytes.
// Invariants: the events (heads, de-chunked bodies, ends) do not depend on how the stream is
// cut into reads; an error is sticky and answers 400 or 431; every kEnd closes a kHead; a
// head's host is a policy-valid spelling.
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "host_check.h"
#include "net/http1/request_reader.h"

namespace http1 = matchlock::net::http1;
using Kind = http1::RequestEvent::Kind;

namespace {

struct Outcome {
  std::vector<std::string> trace;  // heads and ends, with the body bytes between them joined
  int error_status = 0;
};

void drain(http1::RequestReader& reader, Outcome& out, size_t& heads, size_t& ends) {
  // Each event consumes input or ends a message, so the loop is bounded by the input size.
  while (auto event = reader.next()) {
    switch (event->kind) {
      case Kind::kHead:
        ++heads;
        FUZZ_CHECK(heads == ends + 1);
        if (!event->head.host.empty()) matchlock::fuzz::check_policy_host(event->head.host);
        out.trace.push_back("head " + event->head.method + " " + event->head.target + " " +
                            event->head.host);
        out.trace.emplace_back();  // the body joins here
        break;
      case Kind::kBody:
        FUZZ_CHECK(!event->body.empty() && heads == ends + 1);
        out.trace.back() += event->body;
        break;
      case Kind::kEnd:
        ++ends;
        FUZZ_CHECK(ends == heads);
        out.trace.push_back("end");
        break;
    }
  }
}

Outcome read(std::string_view input, size_t chunk) {
  Outcome out;
  http1::RequestReader reader;
  size_t heads = 0, ends = 0;
  for (size_t off = 0; off < input.size() && !reader.error(); off += chunk) {
    reader.append(input.substr(off, chunk));
    drain(reader, out, heads, ends);
  }
  if (const auto& error = reader.error()) {
    FUZZ_CHECK(error->status == 400 || error->status == 431);
    FUZZ_CHECK(!reader.next());  // sticky
    out.error_status = error->status;
  }
  (void)reader.take_opaque();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  size_t chunk = 1 + data[0] % 29;
  std::string_view input = matchlock::fuzz::as_text(data + 1, size - 1);
  Outcome whole = read(input, input.size() + 1);
  Outcome pieces = read(input, chunk);
  FUZZ_CHECK(whole.error_status == pieces.error_status);
  if (whole.error_status == 0) FUZZ_CHECK(whole.trace == pieces.trace);
  return 0;
}
