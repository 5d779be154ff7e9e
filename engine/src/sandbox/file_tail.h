// The last lines of a log file (the guest console, QEMU's output), for error messages.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace matchlock::sandbox {

// Reads at most the file's last 16 KiB; blank lines are dropped. Empty if the file is missing.
std::string tail_lines(const std::filesystem::path& file, size_t max_lines);

}  // namespace matchlock::sandbox
