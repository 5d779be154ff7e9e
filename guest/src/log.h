// Short diagnostic lines to the kernel console, which the host captures into its log file.
#pragma once

#include <string_view>

namespace matchlock::guest_agent {

// Writes "matchlock-guest: <line>\n" to /dev/console (stderr until the console can be opened).
void log_line(std::string_view line);

// log_line("<what>: <strerror(errno)>"); call right after the failing syscall.
void log_errno(std::string_view what);

}  // namespace matchlock::guest_agent
