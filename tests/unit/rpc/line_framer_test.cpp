#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rpc/line_framer.h"

using matchlock::rpc::LineFramer;

namespace {
struct Collector {
  std::vector<std::string> lines;
  int oversized = 0;
  LineFramer framer{[this](std::string_view l) { lines.emplace_back(l); }, [this] { ++oversized; }};
};
}  // namespace

TEST_CASE("framer_joins_a_line_split_across_chunks", "[rpc][framer]") {
  Collector c;
  c.framer.feed("{\"a\"");
  c.framer.feed(":1}\n{\"b\":2}\n{\"c\"");
  CHECK(c.lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"});
  c.framer.feed(":3}\n");
  CHECK(c.lines.back() == "{\"c\":3}");
}

TEST_CASE("framer_strips_crlf_and_skips_empty_lines", "[rpc][framer]") {
  Collector c;
  c.framer.feed("\n\r\n{\"a\":1}\r\n\n\n{\"b\":2}\n");
  CHECK(c.lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"});
  CHECK(c.oversized == 0);
}

TEST_CASE("framer_delivers_an_unterminated_last_line_at_eof", "[rpc][framer]") {
  Collector c;
  c.framer.feed("{\"a\":1}\n{\"b\"");
  c.framer.feed(":2}");
  CHECK(c.lines.size() == 1);
  c.framer.finish();
  CHECK(c.lines.back() == "{\"b\":2}");
}

TEST_CASE("framer_discards_an_oversized_line_and_keeps_going", "[rpc][framer]") {
  Collector c;
  std::string big(1024 * 1024, 'x');
  c.framer.feed("{\"first\":1}\n");
  for (int i = 0; i < 11; ++i) c.framer.feed(big);  // 11 MiB without a newline
  CHECK(c.oversized == 1);
  c.framer.feed(big);
  c.framer.feed("tail-of-the-big-line\n{\"next\":1}\n");
  CHECK(c.oversized == 1);
  CHECK(c.lines == std::vector<std::string>{"{\"first\":1}", "{\"next\":1}"});
}

TEST_CASE("framer_accepts_a_line_of_exactly_the_maximum_size", "[rpc][framer]") {
  Collector c;
  std::string line(LineFramer::kMaxLineBytes, 'a');
  c.framer.feed(line);
  c.framer.feed("\r\n");
  CHECK(c.oversized == 0);
  REQUIRE(c.lines.size() == 1);
  CHECK(c.lines[0].size() == LineFramer::kMaxLineBytes);

  std::string over(LineFramer::kMaxLineBytes + 1, 'a');
  c.framer.feed(over + "\n");
  CHECK(c.oversized == 1);
  CHECK(c.lines.size() == 1);
}
