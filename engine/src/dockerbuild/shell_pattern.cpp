#include "dockerbuild/shell_pattern.h"

#include <algorithm>
#include <optional>
#include <unordered_set>
#include <vector>

#include "core/printable.h"
#include "dockerbuild/utf8_text.h"

namespace matchlock::dockerbuild {

namespace {

struct Token {
  enum class Kind { kLiteral, kAnyRun, kAnyOne } kind;
  char32_t ch = 0;
};
using Tokens = std::vector<Token>;

// Matching recurses once per token: a pattern of 300 000 characters overflowed the stack.
constexpr size_t kMaxPatternChars = 4096;

Result<Tokens> compile(std::string_view pattern) {
  const std::u32string chars = utf8_decode(pattern);
  if (chars.size() > kMaxPatternChars) {
    return invalid_argument("pattern longer than " + std::to_string(kMaxPatternChars) +
                            " characters in substitution");
  }
  Tokens tokens;
  for (size_t i = 0; i < chars.size(); ++i) {
    const char32_t ch = chars[i];
    if (ch == U'*') {
      // "**" is "*" (the same ends, tried in the same order): a run of stars is one token.
      if (tokens.empty() || tokens.back().kind != Token::Kind::kAnyRun) {
        tokens.push_back({Token::Kind::kAnyRun});
      }
    } else if (ch == U'?') {
      tokens.push_back({Token::Kind::kAnyOne});
    } else if (ch == U'\\') {
      // `\}` and `\/` had to be escaped to end up in the pattern; the escape is not part of it.
      if (i + 1 < chars.size() && (chars[i + 1] == U'}' || chars[i + 1] == U'/')) continue;
      if (i + 1 >= chars.size() ||
          (chars[i + 1] != U'*' && chars[i + 1] != U'?' && chars[i + 1] != U'\\')) {
        const std::string what = i + 1 < chars.size() ? utf8_encode(chars.substr(i + 1, 1)) : "";
        return invalid_argument("invalid pattern (" + abbreviated(pattern) +
                                ") in substitution: invalid escape '\\" + what + "'");
      }
      tokens.push_back({Token::Kind::kLiteral, chars[++i]});
    } else {
      tokens.push_back({Token::Kind::kLiteral, ch});
    }
  }
  return tokens;
}

// (token, value position) pairs known not to match: without them, patterns with many `*`
// backtrack exponentially (a Dockerfile from someone else's repository hung the build). With
// them a search is polynomial, tokens x value x value steps at worst ("*?*?*?..." against a long
// value), so it also counts its steps and gives up past kMaxSteps with an error.
constexpr uint64_t kMaxSteps = 50'000'000;

struct Search {
  std::unordered_set<uint64_t> failed;
  uint64_t steps = 0;
  bool gave_up() const { return steps > kMaxSteps; }
};

Error too_complex(std::string_view pattern) {
  return invalid_argument("pattern (" + abbreviated(pattern) +
                          ") in substitution needs more than " + std::to_string(kMaxSteps) +
                          " steps to match the value: simplify it");
}

// Backtracking in the order a regex engine with leftmost-first semantics tries alternatives
// (Docker compiles these patterns to Go regexps): a `*` tries its longest run first when
// `longest`, its shortest first otherwise. Returns where the first match found ends. The answer
// depends only on (ti, vi), so a state that failed once fails again.
std::optional<size_t> match_from(const Tokens& tokens, size_t ti, const std::u32string& value,
                                 size_t vi, bool longest, Search& search) {
  if (ti == tokens.size()) return vi;
  if (++search.steps > kMaxSteps) return std::nullopt;
  const uint64_t state = (static_cast<uint64_t>(ti) << 32) | vi;
  auto& failed = search.failed;
  if (failed.count(state)) return std::nullopt;
  std::optional<size_t> end;
  const Token& t = tokens[ti];
  switch (t.kind) {
    case Token::Kind::kLiteral:
      if (vi < value.size() && value[vi] == t.ch) {
        end = match_from(tokens, ti + 1, value, vi + 1, longest, search);
      }
      break;
    case Token::Kind::kAnyOne:
      if (vi < value.size() && value[vi] != U'\n') {
        end = match_from(tokens, ti + 1, value, vi + 1, longest, search);
      }
      break;
    case Token::Kind::kAnyRun: {
      size_t max = 0;
      while (vi + max < value.size() && value[vi + max] != U'\n') ++max;
      for (size_t k = 0; k <= max && !end && !search.gave_up(); ++k) {
        const size_t run = longest ? max - k : k;
        end = match_from(tokens, ti + 1, value, vi + run, longest, search);
      }
      // No run from vi matched, so none from a later start before the same newline can: they
      // end at the same places. Recorded now, a search from each later start (replacing finds
      // the leftmost match) costs one look instead of another loop over the value.
      if (!end && !search.gave_up()) {
        for (size_t k = 1; k <= max; ++k) failed.insert(state + k);
      }
      break;
    }
  }
  if (!end && !search.gave_up()) failed.insert(state);
  return end;
}

struct Match {
  size_t begin, end;
};

std::optional<Match> find(const Tokens& tokens, const std::u32string& value, size_t from,
                          Search& search) {
  for (size_t begin = from; begin <= value.size() && !search.gave_up(); ++begin) {
    if (auto end = match_from(tokens, 0, value, begin, true, search)) return Match{begin, *end};
  }
  return std::nullopt;
}

}  // namespace

Result<std::string> trim_shell_pattern_prefix(std::string_view value, std::string_view pattern,
                                              bool longest) {
  auto tokens = compile(pattern);
  if (!tokens.ok()) return tokens.error();
  const std::u32string chars = utf8_decode(value);
  Search search;
  auto end = match_from(*tokens, 0, chars, 0, longest, search);
  if (search.gave_up()) return too_complex(pattern);
  return utf8_encode(std::u32string_view(chars).substr(end.value_or(0)));
}

Result<std::string> trim_shell_pattern_suffix(std::string_view value, std::string_view pattern,
                                              bool longest) {
  // A suffix match is a prefix match of the reversed pattern on the reversed value (as Docker
  // does it, so the same suffix is chosen).
  auto tokens = compile(pattern);
  if (!tokens.ok()) return tokens.error();
  std::reverse(tokens->begin(), tokens->end());
  std::u32string chars = utf8_decode(value);
  std::reverse(chars.begin(), chars.end());
  Search search;
  auto end = match_from(*tokens, 0, chars, 0, longest, search);
  if (search.gave_up()) return too_complex(pattern);
  chars.erase(0, end.value_or(0));
  std::reverse(chars.begin(), chars.end());
  return utf8_encode(chars);
}

Result<std::string> replace_shell_pattern(std::string_view value, std::string_view pattern,
                                          std::string_view replacement, bool all) {
  auto tokens = compile(pattern);
  if (!tokens.ok()) return tokens.error();
  const std::u32string chars = utf8_decode(value);
  const std::u32string repl = utf8_decode(replacement);
  std::u32string out;
  size_t last_end = 0;
  size_t search = 0;
  // Non-overlapping matches left to right; an empty match right after a match is not replaced
  // and the search always moves on by at least one character (Go's ReplaceAll rules).
  // One search state for all: a (token, position) that failed from one start fails from any.
  Search state;
  while (search <= chars.size()) {
    auto m = find(*tokens, chars, search, state);
    if (state.gave_up()) return too_complex(pattern);
    if (!m) break;
    out.append(chars, last_end, m->begin - last_end);
    if (m->end > last_end || m->begin == 0) out += repl;
    last_end = m->end;
    search = std::max(search + 1, m->end);
    if (!all) break;
  }
  out.append(chars, last_end, std::u32string::npos);
  return utf8_encode(out);
}

}  // namespace matchlock::dockerbuild
