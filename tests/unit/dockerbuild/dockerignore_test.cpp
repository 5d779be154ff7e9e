#include <catch2/catch.hpp>

#include "dockerbuild/dockerignore.h"

using namespace matchlock::dockerbuild;

namespace {

DockerIgnore ignore(std::string_view text) {
  auto r = DockerIgnore::parse(text);
  INFO(text);
  if (!r.ok()) FAIL(r.error().message);
  return std::move(r).value();
}

}  // namespace

TEST_CASE("clean_path_is_lexical_like_go", "[build][dockerignore]") {
  CHECK(clean_path("a//b/./c/../d/") == "a/b/d");
  CHECK(clean_path("") == ".");
  CHECK(clean_path("./") == ".");
  CHECK(clean_path("/..") == "/");
  CHECK(clean_path("../a") == "../a");
  CHECK(clean_path("a/../..") == "..");
  CHECK(clean_path("/a/./b/") == "/a/b");
}

TEST_CASE("dockerignore_empty_excludes_nothing", "[build][dockerignore]") {
  auto di = ignore("");
  CHECK(di.empty());
  CHECK_FALSE(di.excluded("anything"));
  CHECK_FALSE(di.may_include_below("anything"));
}

TEST_CASE("dockerignore_name_excludes_the_entry_and_everything_below", "[build][dockerignore]") {
  auto di = ignore("node_modules\n/build/\n./tmp/../cache\n");
  CHECK(di.excluded("node_modules"));
  CHECK(di.excluded("node_modules/x/y.js"));
  CHECK_FALSE(di.excluded("src/node_modules"));  // patterns are anchored at the context root
  CHECK(di.excluded("build"));
  CHECK(di.excluded("build/out.o"));
  CHECK(di.excluded("cache/a"));
  CHECK_FALSE(di.excluded("tmp"));
  CHECK_FALSE(di.excluded("buildx"));
  CHECK(di.excluded("./build//x"));  // the path is cleaned first
}

TEST_CASE("dockerignore_star_and_question_stay_within_one_component", "[build][dockerignore]") {
  auto di = ignore("*.log\nsrc/?.tmp\n");
  CHECK(di.excluded("debug.log"));
  CHECK_FALSE(di.excluded("logs/debug.log"));
  CHECK(di.excluded("src/a.tmp"));
  CHECK_FALSE(di.excluded("src/ab.tmp"));
  CHECK_FALSE(di.excluded("src/a/b.tmp"));
  CHECK(ignore("?.txt").excluded("\xC3\xA9.txt"));  // one character, not one byte
  CHECK(ignore("*").excluded("a/b/c"));             // through the parent "a"
  CHECK_FALSE(ignore("*").excluded("."));
  CHECK_FALSE(ignore("*").excluded(""));
}

TEST_CASE("dockerignore_double_star_spans_directories", "[build][dockerignore]") {
  auto any_go = ignore("**/*.go");
  CHECK(any_go.excluded("main.go"));
  CHECK(any_go.excluded("a/b/c.go"));
  CHECK_FALSE(any_go.excluded("a/b/c.goo"));

  auto named = ignore("**/foo");
  CHECK(named.excluded("foo"));
  CHECK(named.excluded("a/b/foo"));
  CHECK(named.excluded("a/foo/inner"));
  CHECK_FALSE(named.excluded("afoo"));

  auto middle = ignore("a/**/b");
  CHECK(middle.excluded("a/b"));
  CHECK(middle.excluded("a/x/y/b"));
  CHECK_FALSE(middle.excluded("ab"));
  CHECK_FALSE(middle.excluded("a/xb"));

  auto below = ignore("dir/**");
  CHECK(below.excluded("dir/x"));
  CHECK(below.excluded("dir/x/y"));
  CHECK_FALSE(below.excluded("dir"));

  CHECK(ignore("**").excluded("any/thing"));
}

TEST_CASE("dockerignore_character_classes", "[build][dockerignore]") {
  auto di = ignore("[a-c]at\n[^x]y\nfile\\[1\\]\n");
  CHECK(di.excluded("bat"));
  CHECK_FALSE(di.excluded("dat"));
  CHECK(di.excluded("zy"));
  CHECK_FALSE(di.excluded("xy"));
  CHECK(di.excluded("file[1]"));
}

TEST_CASE("dockerignore_exceptions_and_last_match_wins", "[build][dockerignore]") {
  auto di = ignore("*.md\n!README.md\n");
  CHECK(di.excluded("CHANGES.md"));
  CHECK_FALSE(di.excluded("README.md"));

  auto reinclude_then_exclude = ignore("!a\na\n");
  CHECK(reinclude_then_exclude.excluded("a"));

  auto again = ignore("docs\n!docs/keep\ndocs/keep/secret\n");
  CHECK(again.excluded("docs/other"));
  CHECK_FALSE(again.excluded("docs/keep"));
  CHECK_FALSE(again.excluded("docs/keep/file"));
  CHECK(again.excluded("docs/keep/secret"));
  CHECK(again.excluded("docs/keep/secret/deeper"));

  // An exception matching a parent takes back everything below it, as Docker's matcher does.
  auto parent_exception = ignore("foo/*\n!foo\n");
  CHECK_FALSE(parent_exception.excluded("foo/x"));
}

TEST_CASE("dockerignore_may_include_below_only_where_an_exception_could_match",
          "[build][dockerignore]") {
  auto none = ignore("docs\n");
  CHECK(none.excluded("docs"));
  CHECK_FALSE(none.may_include_below("docs"));

  auto keep = ignore("docs\n!docs/api/keep.md\n");
  CHECK(keep.excluded("docs"));
  CHECK(keep.may_include_below("docs"));
  CHECK(keep.may_include_below("docs/api"));
  CHECK_FALSE(keep.may_include_below("docs/guide"));
  CHECK_FALSE(keep.may_include_below("doc"));
  CHECK_FALSE(keep.excluded("docs/api/keep.md"));
  CHECK(keep.excluded("docs/api/other.md"));

  auto wildcard = ignore("*\n!**/*.go\n");
  CHECK(wildcard.may_include_below("vendor/x"));
  CHECK_FALSE(wildcard.excluded("vendor/x/main.go"));
  CHECK(wildcard.excluded("vendor/x/README"));
}

TEST_CASE("dockerignore_comments_blanks_bom_and_crlf", "[build][dockerignore]") {
  auto di = ignore("\xEF\xBB\xBF# comment\r\n\r\n   \r\n  spaced  \r\n #notcomment\r\n! kept \r\n");
  CHECK(di.excluded("spaced"));
  CHECK(di.excluded("#notcomment"));
  CHECK_FALSE(di.excluded("# comment"));
  CHECK_FALSE(di.excluded("kept"));
}

TEST_CASE("dockerignore_bad_patterns_are_errors_naming_the_line", "[build][dockerignore]") {
  auto bracket = DockerIgnore::parse("ok\n[abc\n");
  REQUIRE_FALSE(bracket.ok());
  CHECK_THAT(bracket.error().message,
             Catch::StartsWith("line 2:") && Catch::Contains("syntax error in pattern"));
  auto bang = DockerIgnore::parse("!\n");
  REQUIRE_FALSE(bang.ok());
  CHECK_THAT(bang.error().message, Catch::Contains("illegal exclusion pattern"));
  CHECK_FALSE(DockerIgnore::parse("a\\").ok());
  CHECK_FALSE(DockerIgnore::parse("[]").ok());
  CHECK_FALSE(DockerIgnore::parse("[a-]").ok());
  CHECK(DockerIgnore::parse("a]").ok());
}

// Matching recursed once per pattern token: a line of 300 000 '*/' overflowed the stack.
TEST_CASE("dockerignore_refuses_a_pattern_longer_than_a_path_can_be", "[build][dockerignore]") {
  std::string line;
  while (line.size() < 300000) line += "*/";
  auto r = DockerIgnore::parse("node_modules\n" + line + "x\n");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "line 2: pattern longer than 4096 bytes");
  CHECK(DockerIgnore::parse(std::string(4096, 'a')).ok());
}

// Found by fuzz/dockerignore: a 2 KiB line of stars took 12 s to match (a search that looped
// over the path in every wildcard state). Runs of wildcards mean what one of them means, and a
// match is tokens x path steps.
TEST_CASE("dockerignore_runs_of_wildcards_match_like_one", "[build][dockerignore]") {
  const std::string stars(600, '*');
  const std::string deep_path = [] {
    std::string p;
    for (int i = 0; i < 100; ++i) p += "dir/";
    return p + ".txt";
  }();
  auto many = ignore(stars + ".txt\n" + "a" + stars + "[bc]" + stars + "z");
  // "**" not followed by '/' is "any directories, or none": a thousand of them are one.
  auto one = ignore("****.txt\na**[bc]**z");
  for (const std::string path :
       {deep_path, std::string("file.txt"), std::string("a/b/z"), std::string("abz"),
        std::string("a") + std::string(3000, 'x') + "y", deep_path + ".no"}) {
    INFO(path.substr(0, 40));
    CHECK(many.excluded(path) == one.excluded(path));
  }
  CHECK(many.excluded(deep_path));
  CHECK_FALSE(many.excluded("file.txt"));
  CHECK(many.excluded("a/b/z"));
  CHECK(many.excluded("abz"));
  CHECK_FALSE(many.excluded("a" + std::string(3000, 'x') + "y"));
}

// Wildcards that do not merge ("*?" three hundred times: at least 300 characters, then z) cost
// tokens x path steps: the memoised search looped over the path in each of their states, about
// 5 * 10^9 steps for this path.
TEST_CASE("dockerignore_alternating_wildcards_match_in_polynomial_time", "[build][dockerignore]") {
  std::string pattern;
  for (int i = 0; i < 300; ++i) pattern += "*?";
  auto di = ignore(pattern + "z");
  CHECK(di.excluded(std::string(3000, 'x') + "z"));
  CHECK(di.excluded(std::string(300, 'x') + "z"));
  CHECK_FALSE(di.excluded(std::string(299, 'x') + "z"));
  CHECK_FALSE(di.excluded(std::string(3000, 'x') + "y"));
  CHECK_FALSE(di.excluded(std::string(150, 'x') + "/" + std::string(200, 'x') + "z"));
}

// A path is excluded when a pattern matches it or any parent. Matching each parent on its own
// cost lines x depth x tokens x path: 4 KiB lines against a path 2000 directories deep took
// seconds per path under ASan (fuzz/dockerignore); one pass over the path now serves every
// parent.
TEST_CASE("dockerignore_matches_every_parent_in_one_pass", "[build][dockerignore]") {
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "d/";
  std::string pattern;
  for (int i = 0; i < 500; ++i) pattern += "?/**/";  // at least 500 directories
  std::string lines;
  for (int i = 0; i < 8; ++i) lines += pattern + "z" + std::to_string(i) + "\n";
  auto di = ignore(lines);
  CHECK_FALSE(di.excluded(deep + "file"));
  CHECK(di.excluded(deep + "z7/file"));         // a parent matches
  CHECK(di.excluded(deep + "z3"));              // the path itself
  CHECK_FALSE(di.excluded("d/d/z3/file"));      // not 500 directories deep
  CHECK_FALSE(di.excluded(deep + "z3x/file"));  // the component differs
}

TEST_CASE("dockerignore_parents_match_whatever_the_pattern_kind", "[build][dockerignore]") {
  auto di = ignore("build\n**/cache\nsrc/gen/**\nlib/*.o\n**/tmp*/x\n");
  CHECK(di.excluded("build/out/a.o"));  // exact, on the first parent
  CHECK_FALSE(di.excluded("rebuild/a"));
  CHECK(di.excluded("a/b/cache/c/d"));  // suffix, on a middle parent
  CHECK(di.excluded("cache/c"));        // suffix "/cache" without the leading '/'
  CHECK_FALSE(di.excluded("a/nocache/c"));
  CHECK(di.excluded("src/gen/x/y"));  // prefix
  CHECK_FALSE(di.excluded("src/general"));
  CHECK(di.excluded("lib/a.o/inner"));      // glob, on a parent
  CHECK_FALSE(di.excluded("lib/sub/a.o"));  // '*' stays in one component
  CHECK(di.excluded("a/b/tmp1/x/y/z"));     // `**/` run ending at a '/', then a parent
  CHECK_FALSE(di.excluded("a/b/tmp1/xy"));
}
