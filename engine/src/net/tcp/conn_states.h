// The lifecycle of one guest TCP connection as explicit states, with every allowed transition
// written down in the next() functions below (pure: no lwIP, no libuv). A transition that
// returns nullopt is one the connection must never make; repeating an event that already
// happened is allowed where both sides can legitimately report it twice (say so per table).
#pragma once

#include <optional>

namespace matchlock::net {

// Where the guest's handshake is.
enum class ConnPhase {
  kSynHeld,       // lwIP has not seen the SYN: waiting for the decision (NAT: the dial)
  kSynDelivered,  // accepted: lwIP may complete the handshake
  kEstablished,   // lwIP completed the handshake; a pcb carries the bytes
  kDone,          // finished or reset; waiting to be destroyed
};
enum class ConnEvent { kAccept, kAttach, kFinish };
// Accept runs once and only on a held SYN; attach only after accept; finish from anywhere.
std::optional<ConnPhase> next(ConnPhase from, ConnEvent event);

// The guest→host half: what becomes of the bytes the guest sends.
enum class GuestHalf {
  kOpen,         // the guest may send; the endpoint still delivers
  kFinReceived,  // the guest sent FIN; the endpoint is still delivering (e.g. shutdown pending)
  kDelivered,    // the endpoint needs nothing more from the guest; the guest has not sent FIN
  kClosed,       // both: the guest's half is over
};
enum class GuestHalfEvent {
  kGuestFin,   // lwIP reported the guest's FIN (or a graceful close)
  kDelivered,  // the endpoint finished with the guest's stream (upstream shut down, or dropped)
};
// Never fails: lwIP may report a FIN twice (FIN, then a graceful close), and an endpoint may
// report delivery from two paths (shutdown completion and cancellation).
GuestHalf next(GuestHalf from, GuestHalfEvent event);

// The host→guest half: the bytes the endpoint sends the guest.
enum class HostHalf {
  kOpen,     // the endpoint may send more
  kEnding,   // the endpoint is done; queued bytes still go out before our FIN
  kFinSent,  // the guest was told (FIN)
};
enum class HostHalfEvent { kEnd, kFinSent };
// The FIN goes only after the end; repeating the end is harmless.
std::optional<HostHalf> next(HostHalf from, HostHalfEvent event);

// The upstream socket of a relay.
enum class UpstreamPhase { kConnecting, kOpen, kClosed };
enum class UpstreamEvent { kConnected, kClose };
// A connect completing after the socket was closed is refused (the callback is stale).
std::optional<UpstreamPhase> next(UpstreamPhase from, UpstreamEvent event);

// The relay's guest→host shutdown: the guest's FIN becomes shutdown(SHUT_WR) upstream once
// every earlier write has been queued.
enum class UpstreamSend {
  kOpen,
  kShutdownWanted,  // asked for while still connecting: issued once connected
  kShuttingDown,    // shutdown requested from libuv
  kShutDown,        // done (or the socket was unusable): nothing more goes upstream
};
enum class UpstreamSendEvent { kWant, kIssue, kDone };
// Asking again is harmless; a shutdown is issued at most once.
std::optional<UpstreamSend> next(UpstreamSend from, UpstreamSendEvent event);

}  // namespace matchlock::net
