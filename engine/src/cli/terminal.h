// The host terminal as `run -t` and `exec -t` see it.
#pragma once

#include <cstdint>

namespace matchlock::cli {

struct WindowSize {
  uint16_t rows = 24, cols = 80;
};

// The size of the first of stdout, stdin, stderr that is a terminal; 24x80 if none is.
WindowSize terminal_size();

}  // namespace matchlock::cli
