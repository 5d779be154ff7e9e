#include <catch2/catch.hpp>
#include <map>

#include "dockerbuild/shell_pattern.h"
#include "dockerbuild/word_expansion.h"

using namespace matchlock::dockerbuild;

namespace {

VariableLookup vars(std::map<std::string, std::string> m) {
  return [m = std::move(m)](std::string_view name) -> std::optional<std::string> {
    auto it = m.find(std::string(name));
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

const VariableLookup kEnv = vars({{"A", "alpha"},
                                  {"EMPTY", ""},
                                  {"SPACED", "x  y"},
                                  {"PATHV", "/usr/local/bin/tool.tar.gz"},
                                  {"B_2", "b2"}});

std::string expand(std::string_view word, char escape = '\\') {
  auto r = expand_word(word, kEnv, escape);
  INFO(word);
  REQUIRE(r.ok());
  return *r;
}

std::string expand_error(std::string_view word) {
  auto r = expand_word(word, kEnv, '\\');
  INFO(word);
  REQUIRE_FALSE(r.ok());
  return r.error().message;
}

std::vector<std::string> words(std::string_view text, char escape = '\\') {
  auto r = expand_words(text, kEnv, escape);
  INFO(text);
  REQUIRE(r.ok());
  return *r;
}

using Strings = std::vector<std::string>;
using Pairs = std::vector<std::pair<std::string, std::string>>;

}  // namespace

TEST_CASE("dollar_forms_expand_set_variables_and_unset_ones_to_empty", "[build][expand]") {
  CHECK(expand("$A") == "alpha");
  CHECK(expand("${A}") == "alpha");
  CHECK(expand("pre$A/post") == "prealpha/post");
  CHECK(expand("${A}_x") == "alpha_x");
  CHECK(expand("$A_x") == "");  // the name is A_x
  CHECK(expand("$B_2") == "b2");
  CHECK(expand("$NOPE") == "");
  CHECK(expand("${NOPE}") == "");
  CHECK(expand("a$") == "a$");
  CHECK(expand("$/x") == "$/x");
  CHECK(expand("$1x") == "x");  // a positional parameter, never set
  CHECK(expand("$$A") == "A");  // `$$` is a special parameter, unset
}

TEST_CASE("default_and_alternative_modifiers_follow_the_colon_rule", "[build][expand]") {
  CHECK(expand("${NOPE:-def}") == "def");
  CHECK(expand("${EMPTY:-def}") == "def");
  CHECK(expand("${A:-def}") == "alpha");
  CHECK(expand("${NOPE-def}") == "def");
  CHECK(expand("${EMPTY-def}") == "");
  CHECK(expand("${A:+alt}") == "alt");
  CHECK(expand("${EMPTY:+alt}") == "");
  CHECK(expand("${EMPTY+alt}") == "alt");
  CHECK(expand("${NOPE+alt}") == "");
  CHECK(expand("${NOPE:-$A}") == "alpha");
  CHECK(expand("${NOPE:-'${A}'}") == "${A}");
  CHECK(expand("${NOPE:-\"a }b\"}") == "a }b");
  CHECK(expand("${NOPE:-a\\}b}") == "a}b");
}

TEST_CASE("required_modifier_errors_with_the_message_or_a_default_one", "[build][expand]") {
  CHECK(expand("${A:?must}") == "alpha");
  CHECK(expand("${EMPTY?must}") == "");
  CHECK_THAT(expand_error("${NOPE:?must be set}"),
             Catch::Contains("NOPE: must be set") && Catch::Contains("failed to process"));
  CHECK_THAT(expand_error("${NOPE?}"), Catch::Contains("NOPE: is not allowed to be unset"));
  CHECK_THAT(expand_error("${EMPTY:?}"), Catch::Contains("EMPTY: is not allowed to be empty"));
}

TEST_CASE("malformed_substitutions_are_errors", "[build][expand]") {
  CHECK_THAT(expand_error("${A"), Catch::Contains("missing '}'"));
  CHECK_THAT(expand_error("${"), Catch::Contains("missing '}'"));
  CHECK_THAT(expand_error("${}"), Catch::Contains("bad substitution"));
  CHECK_THAT(expand_error("${:-x}"), Catch::Contains("bad substitution"));
  CHECK_THAT(expand_error("${A:-x"), Catch::Contains("missing '}'"));
  CHECK_THAT(expand_error("${A:x}"), Catch::Contains("unsupported modifier (:x)"));
  CHECK_THAT(expand_error("${A^}"), Catch::Contains("unsupported modifier (^)"));
  CHECK_THAT(expand_error("'open"), Catch::Contains("matching single-quote"));
  CHECK_THAT(expand_error("\"open"), Catch::Contains("matching double-quote"));
}

TEST_CASE("pattern_modifiers_trim_and_replace", "[build][expand]") {
  CHECK(expand("${PATHV#*/}") == "usr/local/bin/tool.tar.gz");
  CHECK(expand("${PATHV##*/}") == "tool.tar.gz");
  CHECK(expand("${PATHV%.*}") == "/usr/local/bin/tool.tar");
  CHECK(expand("${PATHV%%.*}") == "/usr/local/bin/tool");
  CHECK(expand("${PATHV#nomatch}") == "/usr/local/bin/tool.tar.gz");
  CHECK(expand("${A/l/L}") == "aLpha");
  CHECK(expand("${PATHV//\\//:}") == ":usr:local:bin:tool.tar.gz");
  CHECK(expand("${A/?/_}") == "_lpha");
  CHECK(expand("${NOPE#x}") == "");
  CHECK_THAT(expand_error("${A#\\q}"), Catch::Contains("invalid escape"));
}

TEST_CASE("shell_patterns_pick_the_match_docker_picks", "[build][expand]") {
  CHECK(*trim_shell_pattern_prefix("aXbXc", "*X", false) == "bXc");
  CHECK(*trim_shell_pattern_prefix("aXbXc", "*X", true) == "c");
  CHECK(*trim_shell_pattern_suffix("aXbXc", "X*", false) == "aXb");
  CHECK(*trim_shell_pattern_suffix("aXbXc", "X*", true) == "a");
  CHECK(*trim_shell_pattern_prefix("\xC3\xA9t\xC3\xA9", "?", false) == "t\xC3\xA9");
  CHECK(*replace_shell_pattern("aaa", "a", "b", true) == "bbb");
  CHECK(*replace_shell_pattern("abc", "x*", "-", true) == "abc");  // shell `x*`, not a regexp
  CHECK(*replace_shell_pattern("abc", "*", "-", true) == "-");  // no second, empty match at the end
  CHECK(*replace_shell_pattern("a.b.c", "\\*", "-", false) == "a.b.c");
  CHECK(*replace_shell_pattern("one two", "o*", "0", false) == "0");
}

TEST_CASE("quotes_are_removed_single_literal_double_expanding", "[build][expand]") {
  CHECK(expand("'$A'") == "$A");
  CHECK(expand("\"$A\"") == "alpha");
  CHECK(expand("\"a'b\"") == "a'b");
  CHECK(expand("'a\"b'") == "a\"b");
  CHECK(expand("x'y'\"z\"") == "xyz");
  CHECK(expand("'a\\b'") == "a\\b");
  CHECK(expand("\"\"") == "");
}

TEST_CASE("escape_character_escapes_outside_quotes_and_a_few_inside", "[build][expand]") {
  CHECK(expand("\\$A") == "$A");
  CHECK(expand("\\'x\\'") == "'x'");
  CHECK(expand("a\\ b") == "a b");
  CHECK(expand("\\\\") == "\\");
  CHECK(expand("\"\\$A\"") == "$A");
  CHECK(expand("\"\\\"\"") == "\"");
  CHECK(expand("\"\\n\"") == "\\n");  // other characters keep the escape inside quotes
  CHECK(expand("abc\\") == "abc");    // a trailing escape is dropped
  // With escape=` the backslash is an ordinary character.
  CHECK(expand("`$A", '`') == "$A");
  CHECK(expand("C:\\dir\\$A", '`') == "C:\\dir\\alpha");
  CHECK(expand("\"`\"\"", '`') == "\"");
}

TEST_CASE("expand_word_keeps_whitespace_and_expand_words_splits_like_docker", "[build][expand]") {
  CHECK(expand("  a   b ") == "  a   b ");
  CHECK(words("  a   b ") == Strings{"a", "b"});
  CHECK(words("'a b' c") == Strings{"a b", "c"});
  CHECK(words("a\\ b c") == Strings{"a b", "c"});
  CHECK(words("\"$SPACED\" z") == Strings{"x  y", "z"});
  CHECK(words("$SPACED z") == Strings{"x", "y", "z"});  // unquoted values are split, as Docker
  CHECK(words("a '' b") == Strings{"a", "b"});          // empty words are dropped
  CHECK(words("$NOPE") == Strings{});
  CHECK(words("pre${A}post other") == Strings{"prealphapost", "other"});
}

TEST_CASE("lex_words_can_keep_the_text_as_written", "[build][expand]") {
  LexOptions raw{.keep_quotes = true, .keep_escapes = true, .keep_unset = true};
  auto r = lex_words("cat <<\"EOF\" $X ${Y:-z} a\\ b", nullptr, '\\', raw);
  REQUIRE(r.ok());
  CHECK(*r == Strings{"cat", "<<\"EOF\"", "$X", "${Y:-z}", "a\\ b"});
}

TEST_CASE("key_values_keep_quoting_for_later_expansion", "[build][expand]") {
  auto r = parse_key_values("a=1 b=\"two words\" c='x y' d=e\\ f g=", '\\', true);
  REQUIRE(r.ok());
  CHECK(*r == Pairs{{"a", "1"}, {"b", "\"two words\""}, {"c", "'x y'"}, {"d", "e\\ f"}, {"g", ""}});
  CHECK(*expand_word((*r)[1].second, kEnv, '\\') == "two words");
  auto eq_in_value = parse_key_values("url=http://h/?a=b", '\\', true);
  REQUIRE(eq_in_value.ok());
  CHECK(*eq_in_value == Pairs{{"url", "http://h/?a=b"}});
  auto quoted_key = parse_key_values("\"my key\"=v", '\\', true);
  REQUIRE(quoted_key.ok());
  CHECK(*quoted_key == Pairs{{"\"my key\"", "v"}});
}

TEST_CASE("key_values_legacy_space_form_takes_the_rest_as_the_value", "[build][expand]") {
  auto r = parse_key_values("  NAME  some value  with spaces", '\\', true);
  REQUIRE(r.ok());
  CHECK(*r == Pairs{{"NAME", "some value  with spaces"}});
  auto single = parse_key_values("NAME", '\\', true);
  REQUIRE_FALSE(single.ok());
  CHECK_THAT(single.error().message, Catch::Contains("NAME"));
  auto mixed = parse_key_values("a=1 b", '\\', true);
  REQUIRE_FALSE(mixed.ok());
  CHECK_THAT(mixed.error().message, Catch::Contains("can't find = in \"b\""));
  auto blank = parse_key_values("=v", '\\', true);
  REQUIRE_FALSE(blank.ok());
  CHECK_THAT(blank.error().message, Catch::Contains("names can not be blank"));
  auto none = parse_key_values("   ", '\\', true);
  REQUIRE(none.ok());
  CHECK(none->empty());
}

TEST_CASE("arg_definitions_tell_no_default_from_an_empty_one", "[build][expand]") {
  auto pairs = parse_key_values("A B=1 C=", '\\', false);
  REQUIRE(pairs.ok());
  CHECK(*pairs == Pairs{{"A", ""}, {"B", "1"}, {"C", ""}});
  auto defs = parse_arg_definitions("A B=1 C= D=\"x y\"", '\\');
  REQUIRE(defs.ok());
  REQUIRE(defs->size() == 4);
  CHECK((*defs)[0].name == "A");
  CHECK_FALSE((*defs)[0].default_value.has_value());
  CHECK((*defs)[1].default_value == "1");
  CHECK((*defs)[2].default_value == "");
  CHECK((*defs)[3].default_value == "\"x y\"");
  CHECK_FALSE(parse_arg_definitions("=x", '\\').ok());
}

// Found by fuzz/dockerfile: `${NAME/****...o/0}` backtracked exponentially and hung the build.
TEST_CASE("patterns with many stars match in polynomial time", "[dockerbuild][pattern]") {
  const std::string value(200, 'w');
  const std::string stars(80, '*');
  CHECK(*replace_shell_pattern(value, stars + "o", "0", false) == value);
  CHECK(*replace_shell_pattern(value + "o", stars + "o", "0", false) == "0");
  std::string alternating;
  for (int i = 0; i < 40; ++i) alternating += "*w";
  CHECK(*trim_shell_pattern_prefix(value, alternating + "x", true) == value);
  CHECK(*trim_shell_pattern_suffix(value, "x" + alternating, false) == value);
}

// The same with longer inputs, as the dockerignore fuzzer found for its own matcher: a run of
// stars is one star, and what still costs tokens x value x value steps ("*?" repeated against a
// long value) stops at a step budget with an error instead of stalling the build.
TEST_CASE("a run of stars is one star, and a search too long ends with an error",
          "[dockerbuild][pattern]") {
  const std::string value(20000, 'w');
  const std::string stars(4000, '*');
  CHECK(*replace_shell_pattern(value, stars + "o", "0", true) == value);
  CHECK(*replace_shell_pattern(value + "o", "w" + stars + "o", "0", false) == "0");
  CHECK(*trim_shell_pattern_prefix("abcabc", "a" + stars + "c", true) == "");
  CHECK(*trim_shell_pattern_prefix("abcabc", "a" + stars + "c", false) == "abc");

  std::string alternating;
  for (int i = 0; i < 1000; ++i) alternating += "*?";
  auto slow = replace_shell_pattern(value, alternating + "x", "0", true);
  REQUIRE_FALSE(slow.ok());
  CHECK(slow.error().message.find("steps to match the value: simplify it") != std::string::npos);
  CHECK(slow.error().message.size() < 300);
}

// Each nested ${...} recursed once: 100 000 of them overflowed the stack and `matchlock build`
// died with SIGSEGV. Nesting is bounded and refused with an error.
TEST_CASE("substitutions nested beyond the limit are an error, not a crash", "[build][expand]") {
  auto nested = [](int depth) {
    std::string word;
    for (int i = 0; i < depth; ++i) word += "${UNSET:-";
    word += "v";
    return word + std::string(depth, '}');
  };
  CHECK(expand(nested(100)) == "v");
  auto deep = expand_word(nested(100000), kEnv, '\\');
  REQUIRE_FALSE(deep.ok());
  const std::string& message = deep.error().message;
  CHECK(message.ends_with("... (1000001 bytes)\": substitutions nested deeper than 128"));
  CHECK(message.size() < 200);  // the word is quoted by its start only
}

// Pattern matching recursed once per pattern character: ${A/<300 000 a>/x} on a value as long
// overflowed the stack.
TEST_CASE("substitution patterns longer than the limit are an error", "[build][expand]") {
  const std::string a_run(300000, 'a');
  auto r = replace_shell_pattern(a_run, a_run, "x", false);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "pattern longer than 4096 characters in substitution");
  CHECK(*replace_shell_pattern(std::string(4096, 'a'), std::string(4096, 'a'), "x", false) == "x");
}
