// Whole-text wildcard matching where '*' is the only wildcard that spans: greedy, with the last
// star as the only way back. When a step fails, that star takes one more item of the text and
// matching resumes after it. Earlier stars never need to move (the last one can take whatever
// they would have; a star that cannot take an item, such as a path's '/', pins everything before
// it), so a match costs at most pattern x text steps and never recurses. Trying every split for
// every star instead grows with the text to the power of the stars.
#pragma once

#include <cstddef>
#include <string_view>

namespace matchlock {

// `pattern[pi] == '*'` starts a star (a run of them is one); the caller's callables do the rest:
//   step(pi, ti): matches the one non-star item at pattern[pi] against the text at ti; on a match
//     advances both and returns true (an escape, '?', a class or a literal, as the caller defines);
//   absorb(ti): lets a star take the text item at ti: advances ti and returns true, or returns
//     false when a star may not take it.
template <class Step, class Absorb>
bool greedy_wildcard_match(std::string_view pattern, size_t text_size, Step step, Absorb absorb) {
  constexpr size_t kNone = std::string_view::npos;
  size_t pi = 0, ti = 0;
  size_t star_pi = kNone, star_ti = 0;
  while (ti < text_size) {
    if (pi < pattern.size() && pattern[pi] == '*') {
      while (pi < pattern.size() && pattern[pi] == '*') ++pi;
      star_pi = pi;
      star_ti = ti;
      continue;
    }
    if (pi < pattern.size() && step(pi, ti)) continue;
    if (star_pi == kNone || !absorb(star_ti)) return false;
    ti = star_ti;
    pi = star_pi;
  }
  while (pi < pattern.size() && pattern[pi] == '*') ++pi;
  return pi == pattern.size();
}

}  // namespace matchlock
