// Text from users and guests, made safe to print on a terminal: control characters (ESC and
// the rest, DEL too) become \xNN, so a flag value or a guest console line cannot move the
// cursor, recolour or retitle the user's terminal. So do the C1 controls written in UTF-8
// (U+0080-U+009F, bytes C2 80-C2 9F): terminals such as xterm act on U+009B as on "ESC [".
// Newlines and tabs stay (messages may carry a console tail on several lines).
#pragma once

#include <string>
#include <string_view>

namespace matchlock {

// Whether text[i] starts the UTF-8 form of a C1 control character (U+0080-U+009F).
inline bool starts_c1_control(std::string_view text, size_t i) {
  return i + 1 < text.size() && static_cast<unsigned char>(text[i]) == 0xc2 &&
         static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
         static_cast<unsigned char>(text[i + 1]) <= 0x9f;
}

inline std::string printable(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  auto escape = [&](unsigned char c) {
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 0xf];
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) {
      escape(c);
    } else if (starts_c1_control(text, i)) {
      escape(c);
      escape(static_cast<unsigned char>(text[++i]));
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
