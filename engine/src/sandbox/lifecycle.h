// A sandbox's lifecycle as one state and the moves between them. Sandbox changes state only
// through can_move(), so the legal sequences are read here rather than pieced together from flags.
#pragma once

#include <cstdint>

namespace matchlock::sandbox {

enum class Lifecycle : uint8_t {
  kBooting,  // Boot is running its steps; nobody outside holds the sandbox yet
  kRunning,  // booted: execs may start
  kCrashed,  // the VM died, or its guest channel was lost, while running: recorded as crashed
             // and reported; only close() is left to do (it stops a QEMU still running)
  kClosing,  // close() asked the VM to stop; waiting for QEMU to exit
  kClosed,   // everything is released; close() answers at once
};

// The allowed moves:
//   Booting  -> Running   (boot finished)      Booting -> Closed (boot failed, all undone)
//   Running  -> Crashed   (QEMU died, or the guest channel was lost)
//   Running  -> Closing   (close())            Crashed -> Closing (close())
//   Closing  -> Closed    (QEMU gone, files and state row removed)
// Nothing leaves Closed, and nothing returns to Booting.
constexpr bool can_move(Lifecycle from, Lifecycle to) {
  switch (from) {
    case Lifecycle::kBooting:
      return to == Lifecycle::kRunning || to == Lifecycle::kClosed;
    case Lifecycle::kRunning:
      return to == Lifecycle::kCrashed || to == Lifecycle::kClosing;
    case Lifecycle::kCrashed:
      return to == Lifecycle::kClosing;
    case Lifecycle::kClosing:
      return to == Lifecycle::kClosed;
    case Lifecycle::kClosed:
      return false;
  }
  return false;
}

// Closing has begun (or is over): no new execs, and losing the guest channel or the network
// link is expected rather than news.
constexpr bool is_shutting_down(Lifecycle s) {
  return s == Lifecycle::kClosing || s == Lifecycle::kClosed;
}

constexpr const char* lifecycle_name(Lifecycle s) {
  switch (s) {
    case Lifecycle::kBooting:
      return "booting";
    case Lifecycle::kRunning:
      return "running";
    case Lifecycle::kCrashed:
      return "crashed";
    case Lifecycle::kClosing:
      return "closing";
    case Lifecycle::kClosed:
      return "closed";
  }
  return "?";
}

}  // namespace matchlock::sandbox
