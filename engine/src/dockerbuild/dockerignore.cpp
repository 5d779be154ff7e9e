#include "dockerbuild/dockerignore.h"

#include <algorithm>

#include "core/text_lines.h"
#include "dockerbuild/utf8_text.h"

namespace matchlock::dockerbuild {

namespace {

// The longest pattern line (no real path is longer): bounds the work of one match, tokens x path.
constexpr size_t kMaxPatternBytes = 4096;

using GlobToken = DockerIgnore::GlobToken;
using Pattern = DockerIgnore::Pattern;

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Whether `p` is well formed for Go's filepath.Match (Docker rejects the .dockerignore
// otherwise): every `[` closed and non-empty, ranges complete, no escape at the end.
bool valid_match_syntax(const std::u32string& p) {
  // One class member: a character other than '-' and ']', or an escaped one.
  auto member = [&](size_t& i) {
    if (i >= p.size() || p[i] == U'-' || p[i] == U']') return false;
    if (p[i] == U'\\' && ++i >= p.size()) return false;
    ++i;
    return i < p.size();  // a class still needs its ']'
  };
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == U'\\') {
      if (i + 1 >= p.size()) return false;
      i += 2;
    } else if (p[i] == U'[') {
      ++i;
      if (i < p.size() && p[i] == U'^') ++i;
      for (int ranges = 0;; ++ranges) {
        if (i < p.size() && p[i] == U']' && ranges > 0) {
          ++i;
          break;
        }
        if (!member(i)) return false;
        if (p[i] == U'-') {
          ++i;
          if (!member(i)) return false;
        }
      }
    } else {
      ++i;
    }
  }
  return true;
}

// `[...]` starting at p[i] == '[' (already validated); leaves i after the ']'.
GlobToken parse_class(const std::u32string& p, size_t& i) {
  GlobToken t;
  t.kind = GlobToken::Kind::kClass;
  ++i;
  if (p[i] == U'^') {
    t.negated = true;
    ++i;
  }
  auto member = [&]() {
    if (p[i] == U'\\') ++i;
    return p[i++];
  };
  while (!(p[i] == U']' && !t.ranges.empty())) {
    const char32_t lo = member();
    char32_t hi = lo;
    if (p[i] == U'-') {
      ++i;
      hi = member();
    }
    t.ranges.emplace_back(lo, hi);
  }
  ++i;
  return t;
}

// Docker turns a pattern into an exact, prefix or suffix comparison when it can, else into a
// regexp; this follows the same steps so that every pattern matches what it matches there.
void compile(Pattern& pattern) {
  const std::u32string p = utf8_decode(pattern.text);
  using Kind = Pattern::Kind;
  Kind kind = Kind::kExact;
  std::vector<GlobToken> tokens;
  auto add = [&](GlobToken::Kind k, char32_t ch = 0) {
    // A run of one wildcard means what one of it means ("**/**/" is "**/"): kept once, so a
    // line of stars costs what one star does.
    const bool wildcard = k == GlobToken::Kind::kStar || k == GlobToken::Kind::kAnyDirs ||
                          k == GlobToken::Kind::kAnything;
    if (wildcard && !tokens.empty() && tokens.back().kind == k) return;
    GlobToken t;
    t.kind = k;
    t.ch = ch;
    tokens.push_back(std::move(t));
  };
  size_t i = 0;
  for (int n = 0; i < p.size(); ++n) {
    const char32_t ch = p[i++];
    if (ch == U'*' && i < p.size() && p[i] == U'*') {
      ++i;
      if (i < p.size() && p[i] == U'/') ++i;
      if (i == p.size()) {
        if (kind == Kind::kExact) {
          kind = Kind::kPrefix;
        } else {
          add(GlobToken::Kind::kAnything);
          kind = Kind::kGlob;
        }
      } else {
        add(GlobToken::Kind::kAnyDirs);
        kind = Kind::kGlob;
      }
      if (n == 0) kind = Kind::kSuffix;
    } else if (ch == U'*') {
      add(GlobToken::Kind::kStar);
      kind = Kind::kGlob;
    } else if (ch == U'?') {
      add(GlobToken::Kind::kOne);
      kind = Kind::kGlob;
    } else if (ch == U'\\') {
      if (i < p.size()) {
        add(GlobToken::Kind::kChar, p[i++]);
        kind = Kind::kGlob;
      } else {
        add(GlobToken::Kind::kChar, U'\\');
      }
    } else if (ch == U'[') {
      --i;
      tokens.push_back(parse_class(p, i));
      kind = Kind::kGlob;
    } else if (ch == U']') {
      add(GlobToken::Kind::kChar, ch);
      kind = Kind::kGlob;
    } else {
      add(GlobToken::Kind::kChar, ch);
    }
  }
  pattern.kind = kind;
  if (kind == Kind::kGlob) pattern.glob = std::move(tokens);
}

bool in_class(const GlobToken& t, char32_t c) {
  bool in = std::any_of(t.ranges.begin(), t.ranges.end(),
                        [c](const auto& r) { return r.first <= c && c <= r.second; });
  return in != t.negated;
}

bool is_wildcard(GlobToken::Kind k) {
  return k == GlobToken::Kind::kStar || k == GlobToken::Kind::kAnything ||
         k == GlobToken::Kind::kAnyDirs;
}

// Whether the tokens match the whole path or one of its parents (the path up to any '/'), as
// Docker checks a path and then each parent. One forward pass over the path serves every parent:
// at[ti] says the first ti tokens match what has been read, and a parent matches when all tokens
// do at its '/'. Tokens only move forward, so the live states lie in a window [lo, hi] that each
// step scans: a literal pattern's window dies at its first mismatch, and no match ever costs
// more than tokens x path steps whatever the wildcards and the depth (a memoised search that
// looped over the path in every wildcard state took 12 s on a 2 KiB line of stars, and matching
// each parent on its own multiplied by the depth: both found by fuzz/dockerignore), and no
// recursion.
bool glob_match_or_parent(const std::vector<GlobToken>& tokens, const std::u32string& path) {
  const size_t count = tokens.size();
  std::vector<char> at(count + 1, 0), next(count + 1, 0);
  // inside[ti]: in a `**/` run of token ti that has not yet ended with its '/'.
  std::vector<char> inside(count + 1, 0), next_inside(count + 1, 0);
  size_t lo = 0, hi = 0;
  // A wildcard may match nothing: whatever reaches it reaches the token after it too.
  auto close = [&](std::vector<char>& reach) {
    for (size_t ti = lo; ti <= hi && ti < count; ++ti) {
      if (reach[ti] && is_wildcard(tokens[ti].kind)) {
        reach[ti + 1] = 1;
        hi = std::max(hi, ti + 1);
      }
    }
  };
  at[0] = 1;
  close(at);
  for (size_t pi = 0; pi < path.size(); ++pi) {
    const char32_t c = path[pi];
    if (c == U'/' && pi > 0 && at[count]) return true;  // the parent path[0..pi) matches
    const size_t old_hi = hi;
    for (size_t ti = lo; ti <= old_hi && ti < count; ++ti) {
      const GlobToken& t = tokens[ti];
      const bool here = at[ti];
      switch (t.kind) {
        case GlobToken::Kind::kChar:
          if (here && c == t.ch) next[ti + 1] = 1;
          break;
        case GlobToken::Kind::kOne:
          if (here && c != U'/') next[ti + 1] = 1;
          break;
        case GlobToken::Kind::kClass:
          if (here && in_class(t, c)) next[ti + 1] = 1;
          break;
        case GlobToken::Kind::kStar:  // any run without '/': takes c and stays
          if (here && c != U'/') next[ti] = 1;
          break;
        case GlobToken::Kind::kAnything:  // any run without newline, as a regexp's '.*'
          if (here && c != U'\n') next[ti] = 1;
          break;
        case GlobToken::Kind::kAnyDirs: {  // nothing, or a run without newline ending with '/'
          const bool live = (here || inside[ti]) && c != U'\n';
          if (live) next_inside[ti] = 1;
          if (live && c == U'/') next[ti + 1] = 1;
          break;
        }
      }
    }
    hi = std::min(old_hi + 1, count);
    close(next);
    // The old states become the next buffers: clear the window they lived in.
    std::fill(at.begin() + static_cast<ptrdiff_t>(lo),
              at.begin() + static_cast<ptrdiff_t>(old_hi) + 1, 0);
    std::fill(inside.begin() + static_cast<ptrdiff_t>(lo),
              inside.begin() + static_cast<ptrdiff_t>(old_hi) + 1, 0);
    at.swap(next);
    inside.swap(next_inside);
    while (lo <= hi && !at[lo] && !inside[lo]) ++lo;
    if (lo > hi) return false;  // nothing left alive: neither the path nor a longer parent
    while (hi > lo && !at[hi] && !inside[hi]) --hi;
  }
  return at[count];
}

std::string_view parent_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? std::string_view() : path.substr(0, slash);
}

}  // namespace

std::string clean_path(std::string_view path) {
  if (path.empty()) return ".";
  const bool rooted = path.front() == '/';
  std::vector<std::string_view> parts;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view part = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..") {
        parts.pop_back();
      } else if (!rooted) {
        parts.push_back(part);
      }
      continue;
    }
    parts.push_back(part);
  }
  std::string out = rooted ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

bool DockerIgnore::Pattern::matches_or_parent_matches(std::string_view path) const {
  if (kind == Kind::kGlob) return glob_match_or_parent(glob, utf8_decode(path));
  // "dir/**": a parent starts with "dir/" only if the path does.
  if (kind == Kind::kPrefix) {
    return path.starts_with(std::string_view(text).substr(0, text.size() - 2));
  }
  // kSuffix: what follows the leading "**".
  const std::string_view suffix =
      kind == Kind::kSuffix ? std::string_view(text).substr(2) : std::string_view();
  // The path, then each parent, longest first.
  for (std::string_view p = path; !p.empty(); p = parent_of(p)) {
    if (kind == Kind::kExact && p == text) return true;
    if (kind == Kind::kSuffix &&
        (p.ends_with(suffix) ||
         (!suffix.empty() && suffix.front() == '/' && p == suffix.substr(1)))) {
      return true;
    }
  }
  return false;
}

// Long because it is Docker's two passes over each line in one place: the ignore-file reader
// (comments, blanks, '!', cleaning, the leading '/') and the matcher's own checks.
Result<DockerIgnore> DockerIgnore::parse(std::string_view text) {
  DockerIgnore ignore;
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (text.starts_with(kBom)) text.remove_prefix(kBom.size());
  TextLines lines(text);
  for (std::string_view line; lines.next(line);) {
    if (line.starts_with('#')) continue;  // only at the very start of the line
    line = trim(line);
    if (line.empty()) continue;
    if (line.size() > kMaxPatternBytes) {
      return invalid_argument("line " + std::to_string(lines.number()) + ": pattern longer than " +
                              std::to_string(kMaxPatternBytes) + " bytes");
    }
    const bool exception = line.front() == '!';
    if (exception) line = trim(line.substr(1));
    std::string cleaned;
    if (!line.empty()) {
      cleaned = clean_path(line);
      if (cleaned.size() > 1 && cleaned.front() == '/') cleaned.erase(0, 1);
    }
    // The matcher cleans once more, with the '!' in front (so "!" + "/" is just "!").
    std::string full = clean_path((exception ? "!" : "") + cleaned);
    Pattern pattern;
    if (full.front() == '!') {
      if (full.size() == 1) {
        return invalid_argument("line " + std::to_string(lines.number()) +
                                ": illegal exclusion pattern: \"!\"");
      }
      pattern.exception = true;
      full.erase(0, 1);
    }
    if (!valid_match_syntax(utf8_decode(full))) {
      return invalid_argument("line " + std::to_string(lines.number()) +
                              ": syntax error in pattern: " + full);
    }
    pattern.text = std::move(full);
    compile(pattern);
    if (pattern.exception && pattern.text.find_first_of("*?[\\") != std::string::npos) {
      ignore.has_wildcard_exception_ = true;
    }
    ignore.patterns_.push_back(std::move(pattern));
  }
  return ignore;
}

bool DockerIgnore::excluded(std::string_view rel) const {
  if (patterns_.empty()) return false;
  std::string path = clean_path(rel);
  if (path.size() > 1 && path.front() == '/') path.erase(0, 1);
  if (path == "." || path == "/") return false;
  bool matched = false;
  for (const Pattern& pattern : patterns_) {
    // Only a pattern that could change the verdict is looked at: an exclusion while the path is
    // not excluded, an exception while it is.
    if (pattern.exception != matched) continue;
    if (pattern.matches_or_parent_matches(path)) matched = !pattern.exception;
  }
  return matched;
}

bool DockerIgnore::may_include_below(std::string_view dir) const {
  if (has_wildcard_exception_) return true;
  std::string prefix = clean_path(dir);
  if (prefix == ".") return true;
  prefix += '/';
  return std::any_of(patterns_.begin(), patterns_.end(), [&](const Pattern& p) {
    return p.exception && (p.text + "/").starts_with(prefix);
  });
}

}  // namespace matchlock::dockerbuild
