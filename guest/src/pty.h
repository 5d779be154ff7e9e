// Pseudo-terminal pairs for tty exec sessions.
#pragma once

#include <cstdint>

#include "core/result.h"
#include "core/unique_fd.h"

namespace matchlock::guest_agent {

struct PtyPair {
  UniqueFd master;  // non-blocking, close-on-exec: the agent's end
  UniqueFd slave;   // close-on-exec: dup2'ed onto 0/1/2 in the child
};

// Opens a pty with an initial window size (0 rows or cols mean 24x80).
Result<PtyPair> open_pty(uint16_t rows, uint16_t cols);

bool set_window_size(int master_fd, uint16_t rows, uint16_t cols);

}  // namespace matchlock::guest_agent
