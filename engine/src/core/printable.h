// Text from users and guests, made safe to print on a terminal: control characters (ESC and
// the rest, DEL too) become \xNN, so a flag value or a guest console line cannot move the
// cursor, recolour or retitle the user's terminal. Newlines and tabs stay (messages may carry
// a console tail on several lines).
#pragma once

#include <string>
#include <string_view>

namespace matchlock {

inline std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// `text` if it is short, else its first `shown` bytes and how long it was: an error line that
// quotes a user's word stays one readable line however long the word.
inline std::string abbreviated(std::string_view text, size_t shown = 80) {
  if (text.size() <= shown) return std::string(text);
  return std::string(text.substr(0, shown)) + "... (" + std::to_string(text.size()) + " bytes)";
}

}  // namespace matchlock
