// Letting the kernel finish its own boot work before a saved boot says HELLO.
#pragma once

#include <string_view>

namespace matchlock::guest_agent {

// True when /proc/cmdline carries matchlock.settle=1: the host saves this boot after HELLO.
bool boot_settle_requested();

// Waits (at most a few seconds) until the kernel has done the boot work it defers by a timer,
// so that no restored guest repeats it. Today that is the TSC's refined calibration: a kernel
// that must measure the TSC (TCG: no frequency from the hypervisor) keeps "tsc-early" as its
// clocksource for about a second after its device initcalls, then switches to "tsc". A guest
// saved before the switch makes it in every restore, in the middle of the sandbox's start
// (about 40 ms under TCG, all of it code the restored guest runs for the first time).
void settle_deferred_boot_work();

// True while `available` (sysfs available_clocksource) still lists "tsc-early".
bool tsc_refinement_pending(std::string_view available);

}  // namespace matchlock::guest_agent
