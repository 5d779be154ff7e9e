// ASCII-only text helpers for protocol tokens (HTTP field names, host names): locale-free,
// so a guest's bytes compare the same on every host.
#pragma once

#include <string_view>

namespace matchlock {

inline char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

inline bool equals_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

}  // namespace matchlock
