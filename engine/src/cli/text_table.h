// Plain-text tables for list-style commands: columns padded to their widest cell, three spaces
// apart, no trailing blanks (docker's layout).
#pragma once

#include <string>
#include <vector>

namespace matchlock::cli {

using TableRow = std::vector<std::string>;

// rows[0] is the header. Every row must have the header's number of cells.
std::string format_table(const std::vector<TableRow>& rows);

}  // namespace matchlock::cli
