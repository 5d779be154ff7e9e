// The KVM-works probe: the host boots us with matchlock.probe=1 and only waits for a marker.
#pragma once

namespace matchlock::guest_agent {

// True when /proc/cmdline carries matchlock.probe=1.
bool boot_probe_requested();

// Writes MATCHLOCK_PROBE_OK to the console and powers off at once.
[[noreturn]] void answer_boot_probe();

}  // namespace matchlock::guest_agent
