#include "cli/text_table.h"

#include <algorithm>

namespace matchlock::cli {

std::string format_table(const std::vector<TableRow>& rows) {
  if (rows.empty()) return {};
  std::vector<size_t> width(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      width[i] = std::max(width[i], row[i].size());
    }
  }
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(width[i] - row[i].size() + 3, ' ');
    }
    out += '\n';
  }
  return out;
}

}  // namespace matchlock::cli
