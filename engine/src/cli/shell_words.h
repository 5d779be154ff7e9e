// Turning argv words into one `sh -c` command string (the exec rpc methods take a string).
#pragma once

#include <string>
#include <vector>

namespace matchlock::cli {

// Each word single-quoted (a ' becomes '\''), joined by spaces: sh runs exactly these words.
// A single word is quoted too, so `exec ID 'echo $HOME'` runs a program of that name, like
// docker exec; use `exec ID sh -c '...'` for shell syntax.
std::string shell_join(const std::vector<std::string>& words);

}  // namespace matchlock::cli
