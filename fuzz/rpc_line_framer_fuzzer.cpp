// rpc::LineFramer (engine/src/rpc/line_framer.cpp): the client's byte stream split into lines.
// Invariants: how the stream is cut into chunks never changes the lines delivered; no line is
// empty, holds a '\n' or exceeds kMaxLineBytes.
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "rpc/line_framer.h"

using matchlock::rpc::LineFramer;

namespace {

struct Collected {
  std::vector<std::string> lines;
  int oversized = 0;
};

Collected frame(std::string_view input, size_t chunk) {
  Collected out;
  LineFramer framer([&](std::string_view line) { out.lines.emplace_back(line); },
                    [&] { ++out.oversized; });
  for (size_t off = 0; off < input.size(); off += chunk) framer.feed(input.substr(off, chunk));
  framer.finish();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size of the second pass.
  size_t chunk = 1 + data[0] % 17;
  std::string_view input = matchlock::fuzz::as_text(data + 1, size - 1);

  Collected whole = frame(input, input.size() + 1);
  Collected pieces = frame(input, chunk);
  FUZZ_CHECK(whole.lines == pieces.lines);
  FUZZ_CHECK(whole.oversized == pieces.oversized);
  for (const std::string& line : whole.lines) {
    FUZZ_CHECK(!line.empty());
    FUZZ_CHECK(line.find('\n') == std::string::npos);
    FUZZ_CHECK(line.size() <= LineFramer::kMaxLineBytes);
  }
  return 0;
}
