#include "sandbox/file_tail.h"

#include <cstdint>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/text_lines.h"

namespace matchlock::sandbox {

std::string tail_lines(const std::filesystem::path& file, size_t max_lines) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<int64_t>(in.tellg());
  int64_t start = size > 16384 ? size - 16384 : 0;
  in.seekg(start);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return last_lines(text, max_lines);
}

std::string last_lines(std::string_view text, size_t max_lines) {
  std::vector<std::string_view> lines;
  TextLines cursor(text);
  for (std::string_view l; cursor.next(l);) {
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (!l.empty()) lines.push_back(l);
  }
  std::string out;
  size_t from = lines.size() > max_lines ? lines.size() - max_lines : 0;
  for (size_t i = from; i < lines.size(); ++i) {
    out.append(lines[i]);
    out.push_back('\n');
  }
  return out;
}

}  // namespace matchlock::sandbox
