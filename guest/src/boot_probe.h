// The KVM-works probe: the host boots us with matchlock.probe=1 and only waits for a marker.
#pragma once

#include <optional>
#include <string_view>

namespace matchlock::guest_agent {

// True when /proc/cmdline carries matchlock.probe=1.
bool boot_probe_requested();

// True when `word` is one of the whitespace-separated words of `cmdline`.
bool cmdline_has_word(std::string_view cmdline, std::string_view word);
// What follows `prefix` (e.g. "matchlock.net=") in the first word of `cmdline` that starts with
// it, if any.
std::optional<std::string_view> cmdline_word_after(std::string_view cmdline,
                                                   std::string_view prefix);

// Writes MATCHLOCK_PROBE_OK to the console and powers off at once.
[[noreturn]] void answer_boot_probe();

}  // namespace matchlock::guest_agent
