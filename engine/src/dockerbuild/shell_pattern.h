// The shell patterns of `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}` in Dockerfile words:
// `*` any run of characters, `?` one character (neither matches a newline), `\*` `\?` `\\` the
// character itself, `\}` and `\/` the character without the escape; everything else literal.
// Matching works on UTF-8 characters, so `?` takes one character, not one byte.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace matchlock::dockerbuild {

// `${VAR#pat}` (shortest matching prefix removed) and `${VAR##pat}` (longest).
Result<std::string> trim_shell_pattern_prefix(std::string_view value, std::string_view pattern,
                                              bool longest);
// `${VAR%pat}` (shortest matching suffix removed) and `${VAR%%pat}` (longest).
Result<std::string> trim_shell_pattern_suffix(std::string_view value, std::string_view pattern,
                                              bool longest);
// `${VAR/pat/repl}` (first match, as long as possible) and `${VAR//pat/repl}` (every match).
Result<std::string> replace_shell_pattern(std::string_view value, std::string_view pattern,
                                          std::string_view replacement, bool all);

}  // namespace matchlock::dockerbuild
