// The rpc server's lifecycle as two small state machines, and the only moves between their
// states that the server may make. Kept apart from the server so the rules read in one place
// and are tested without a loop or a VM.
//
// The sandbox side (one sandbox per server):
//
//   kNone ──create──▶ kCreating ──booted (and entrypoint settled)──▶ kReady
//     ▲                  │                                             │
//     └──create failed───┘                                           close
//   kNone ──close (nothing to stop)──▶ kClosing ◀──────────────────────┘
//                                        │
//                                   VM is gone
//                                        ▼
//                                     kClosed
//
// A close that arrives while kCreating waits for the create to end (either way) first.
//
// The client side (the conversation on stdin/stdout):
//
//   kServing ──close accepted, or the client went away──▶ kDraining
//   kDraining ──client gone and the sandbox closed──▶ kFlushing ──last line written──▶ kFinished
#pragma once

#include <string_view>

namespace matchlock::rpc {

enum class SandboxState {
  kNone,      // no sandbox (none asked for yet, or its create failed): `create` is allowed
  kCreating,  // booting, or inside the launched entrypoint's settle window
  kReady,     // running: exec-family and allow-list requests are served
  kClosing,   // the VM was asked to stop (or there was none); waiting for it to be gone
  kClosed,    // closed for good: this server never creates another
};

enum class SessionState {
  kServing,   // lines are parsed and dispatched
  kDraining,  // a close was accepted or the client is gone: lines are ignored, execs cancelled
  kFlushing,  // the client is gone and the sandbox closed: writing what is still queued
  kFinished,  // everything written; the server's on_done has run
};

// Whether the server may move from `from` to `to`. Staying in a state is not a move.
constexpr bool can_move(SandboxState from, SandboxState to) {
  using S = SandboxState;
  switch (from) {
    case S::kNone:
      return to == S::kCreating || to == S::kClosing;
    case S::kCreating:
      return to == S::kReady || to == S::kNone;
    case S::kReady:
      return to == S::kClosing;
    case S::kClosing:
      return to == S::kClosed;
    case S::kClosed:
      return false;
  }
  return false;
}

constexpr bool can_move(SessionState from, SessionState to) {
  using S = SessionState;
  switch (from) {
    case S::kServing:
      return to == S::kDraining;
    case S::kDraining:
      return to == S::kFlushing;
    case S::kFlushing:
      return to == S::kFinished;
    case S::kFinished:
      return false;
  }
  return false;
}

// For logs: the state's name.
constexpr std::string_view to_string(SandboxState s) {
  constexpr std::string_view kNames[] = {"none", "creating", "ready", "closing", "closed"};
  return kNames[static_cast<int>(s)];
}

constexpr std::string_view to_string(SessionState s) {
  constexpr std::string_view kNames[] = {"serving", "draining", "flushing", "finished"};
  return kNames[static_cast<int>(s)];
}

}  // namespace matchlock::rpc
