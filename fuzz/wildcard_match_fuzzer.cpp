// The greedy wildcard matcher (engine/src/core/greedy_wildcard.h) in its two uses: interception
// rules' path globs against a guest's request path (net/policy/request_target.cpp) and COPY
// source patterns against a build context's names (dockerbuild/source_paths.cpp). The input is
// "mode pattern\0text"; an even mode byte picks the path glob, an odd one the COPY component.
// Invariant: where the pattern has only literals, '*' and '?' (no class or escape) and the text
// is ASCII, the greedy answer equals a plain dynamic programme's over the same rules (a star
// never takes '/' in a path glob; in a COPY component both wildcards take any character). The
// greedy matcher's claim that only the last star ever needs to move is what this checks.
#include <string>
#include <vector>

#include "dockerbuild/source_paths.h"
#include "fuzz_check.h"
#include "net/policy/request_target.h"

namespace {

// Whole-text match, pattern x text steps: row by row from the pattern's end.
bool reference_match(std::string_view pattern, std::string_view text, bool wildcards_take_slash) {
  const size_t n = text.size();
  auto takes = [&](char c) { return wildcards_take_slash || c != '/'; };
  std::vector<char> next(n + 1, 0), cur(n + 1, 0);
  next[n] = 1;
  for (size_t pi = pattern.size(); pi-- > 0;) {
    const char p = pattern[pi];
    cur[n] = p == '*' ? next[n] : 0;
    for (size_t ti = n; ti-- > 0;) {
      const char c = text[ti];
      if (p == '*') {
        cur[ti] = next[ti] || (takes(c) && cur[ti + 1]);
      } else if (p == '?') {
        cur[ti] = takes(c) && next[ti + 1];
      } else {
        cur[ti] = c == p && next[ti + 1];
      }
    }
    next.swap(cur);
  }
  return next[0];
}

bool comparable(std::string_view pattern, std::string_view text) {
  if (pattern.find_first_of("[\\") != std::string_view::npos) return false;
  for (char c : pattern) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  for (char c : text) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return pattern.size() * text.size() <= (1u << 18);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool copy_component = data[0] & 1;
  std::string_view rest = matchlock::fuzz::as_text(data + 1, size - 1);
  const size_t nul = rest.find('\0');
  const std::string_view pattern = rest.substr(0, nul);
  const std::string_view text =
      nul == std::string_view::npos ? std::string_view() : rest.substr(nul + 1);
  bool matched = false;
  if (copy_component) {
    matched = matchlock::dockerbuild::component_matches(pattern, text);
  } else {
    if (!matchlock::net::policy::validate_path_glob(pattern).ok()) return 0;
    matched = matchlock::net::policy::path_glob_matches(pattern, text);
  }
  if (comparable(pattern, text)) {
    FUZZ_CHECK(matched == reference_match(pattern, text, copy_component));
  }
  return 0;
}
