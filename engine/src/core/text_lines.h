// Walks text one line at a time, counting lines: the loop every reader of a line-oriented file
// (env files, .dockerignore, passwd/group) needs. A final line without '\n' still counts; the
// '\n' is never part of a line.
#pragma once

#include <cstddef>
#include <string_view>

namespace matchlock {

class TextLines {
 public:
  explicit TextLines(std::string_view text) : text_(text) {}

  // The next line, or false after the last one.
  bool next(std::string_view& line) {
    if (pos_ >= text_.size()) return false;
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++number_;
    return true;
  }

  // 1-based number of the line `next` returned last.
  size_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t pos_ = 0;
  size_t number_ = 0;
};

}  // namespace matchlock
