#include "boot_settle.h"

#include <chrono>
#include <thread>

#include "boot_probe.h"
#include "fs_util.h"

namespace matchlock::guest_agent {
namespace {

constexpr const char* kAvailableClocksources =
    "/sys/devices/system/clocksource/clocksource0/available_clocksource";
// The refinement runs a second after the kernel's device initcalls; far more means it never
// will (an unstable TSC keeps tsc-early to the end), and a save must not wait for nothing.
constexpr auto kSettleLimit = std::chrono::seconds(3);
constexpr auto kPollInterval = std::chrono::milliseconds(5);

}  // namespace

bool boot_settle_requested() {
  auto cmdline = read_file("/proc/cmdline", 4096);
  return cmdline && cmdline_has_word(*cmdline, "matchlock.settle=1");
}

bool tsc_refinement_pending(std::string_view available) {
  return cmdline_has_word(available, "tsc-early");
}

void settle_deferred_boot_work() {
  const auto deadline = std::chrono::steady_clock::now() + kSettleLimit;
  while (std::chrono::steady_clock::now() < deadline) {
    auto available = read_file(kAvailableClocksources, 4096);
    if (!available || !tsc_refinement_pending(*available)) return;
    // No event announces the switch (sysfs does not notify this file): poll, briefly.
    std::this_thread::sleep_for(kPollInterval);
  }
}

}  // namespace matchlock::guest_agent
