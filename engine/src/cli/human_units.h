// Sizes for people: "1.0 MB", "48.7 MB" (decimal units, as docker prints them).
#pragma once

#include <cstdint>
#include <string>

namespace matchlock::cli {

std::string human_bytes(int64_t bytes);

}  // namespace matchlock::cli
