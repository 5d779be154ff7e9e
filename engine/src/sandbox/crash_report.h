// Words for a sandbox that stopped while running without anyone asking: the one-line error its
// owner and every running exec report, and the detail of its `crashed` history entry. Pure
// functions of what the host saw, so they are tested without a VM.
#pragma once

#include <string>
#include <string_view>

#include "vm/qemu_process.h"

namespace matchlock::sandbox {

// Why QEMU is gone: its exit status or signal, or a guest kernel panic found in the last lines
// of the guest console (a panicking guest reboots, and -no-reboot turns that into QEMU's exit).
// The console is the guest's to write: what is quoted from it is bounded and printable.
std::string vm_exit_reason(const vm::ExitInfo& info, std::string_view console_tail);

// The guest channel failed while QEMU still runs (the agent died, or sent garbage).
std::string guest_lost_reason(std::string_view channel_error);

// "sandbox <id> stopped unexpectedly: <reason>".
std::string crash_message(std::string_view id, std::string_view reason);

}  // namespace matchlock::sandbox
