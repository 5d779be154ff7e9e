// The last lines of a log file (the guest console, QEMU's output), for error messages.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace matchlock::sandbox {

// Reads at most the file's last 16 KiB; blank lines are dropped. Empty if the file is missing.
std::string tail_lines(const std::filesystem::path& file, size_t max_lines);

// The last `max_lines` non-blank lines of `text`, each ending in a newline.
std::string last_lines(std::string_view text, size_t max_lines);

}  // namespace matchlock::sandbox
