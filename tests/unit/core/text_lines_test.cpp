#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "core/text_lines.h"

using namespace matchlock;

namespace {

std::vector<std::string> all_lines(std::string_view text) {
  std::vector<std::string> out;
  TextLines lines(text);
  for (std::string_view line; lines.next(line);) out.emplace_back(line);
  return out;
}

}  // namespace

TEST_CASE("text_lines_splits_on_newlines_and_keeps_a_last_line_without_one", "[text_lines]") {
  CHECK(all_lines("") == std::vector<std::string>{});
  CHECK(all_lines("a") == std::vector<std::string>{"a"});
  CHECK(all_lines("a\n") == std::vector<std::string>{"a"});
  CHECK(all_lines("a\n\nb") == std::vector<std::string>{"a", "", "b"});
  CHECK(all_lines("\n") == std::vector<std::string>{""});
  CHECK(all_lines("a\r\nb") == std::vector<std::string>{"a\r", "b"});  // CR is the caller's
}

TEST_CASE("text_lines_counts_the_line_it_returned_last", "[text_lines]") {
  TextLines lines("one\ntwo\n\nfour");
  std::string_view line;
  CHECK(lines.number() == 0);
  REQUIRE(lines.next(line));
  CHECK((line == "one" && lines.number() == 1));
  REQUIRE(lines.next(line));
  REQUIRE(lines.next(line));
  REQUIRE(lines.next(line));
  CHECK((line == "four" && lines.number() == 4));
  CHECK_FALSE(lines.next(line));
  CHECK(lines.number() == 4);
}
