// .dockerignore: which files of the build context COPY and ADD may see, with the semantics of
// Docker's pattern matcher. Each line is a pattern (cleaned like a path, a leading '/' dropped);
// `#` at the start of a line is a comment; `*` and `?` match within one path component, `[...]`
// is a character class, `**` matches any number of components; `!` makes an exception. The last
// pattern that matches a path decides, and a pattern matching a directory matches everything
// below it.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace matchlock::dockerbuild {

class DockerIgnore {
 public:
  // An empty text (or none) excludes nothing. Errors: a malformed pattern (an unclosed `[`,
  // `!` alone, a trailing `\`), naming the line.
  static Result<DockerIgnore> parse(std::string_view text);

  // `rel`: a path relative to the context, '/'-separated ("src/main.c"); it is cleaned first.
  // The context itself ("" or ".") is never excluded.
  bool excluded(std::string_view rel) const;

  // For an excluded directory: whether an exception pattern may still take back something below
  // it, so the walk has to go in (when false the whole directory can be skipped). Conservative,
  // as Docker's walker: an exception with a wildcard may match anywhere. Inside, excluded() still
  // decides entry by entry; the directory itself belongs to the context only if something below
  // it does.
  bool may_include_below(std::string_view dir) const;

  bool empty() const { return patterns_.empty(); }

  // One piece of a wildcard pattern, as Docker's pattern-to-regexp translation has it.
  struct GlobToken {
    enum class Kind {
      kChar,      // the character itself
      kStar,      // `*`: any run without '/'
      kOne,       // `?`: one character but '/'
      kAnyDirs,   // `**/` (or `**` inside): nothing, or any run ending in '/'
      kAnything,  // `**` at the end: any run
      kClass,     // `[a-z]`, `[^abc]`: one character (any, '/' too) in or out of ranges
    } kind = Kind::kChar;
    char32_t ch = 0;
    bool negated = false;
    std::vector<std::pair<char32_t, char32_t>> ranges;
  };

  // One pattern; public so that it can be tested on its own.
  struct Pattern {
    enum class Kind {
      kExact,   // no wildcard: the path equals the pattern
      kPrefix,  // "dir/**": the path starts with "dir/"
      kSuffix,  // "**/name" (or "**name"): the path ends with it
      kGlob,    // anything else
    };
    std::string text;  // cleaned, without the '!'
    bool exception = false;
    Kind kind = Kind::kExact;
    std::vector<GlobToken> glob;  // kGlob only
    // Whether it matches the cleaned path or one of its parents ("a" and "a/b" for "a/b/c").
    bool matches_or_parent_matches(std::string_view path) const;
  };

 private:
  std::vector<Pattern> patterns_;
  bool has_wildcard_exception_ = false;
};

// Lexical path cleaning as Go's path.Clean: "a//b/./c/../d/" -> "a/b/d", "" -> ".".
std::string clean_path(std::string_view path);

}  // namespace matchlock::dockerbuild
