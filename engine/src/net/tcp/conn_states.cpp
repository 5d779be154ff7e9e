#include "net/tcp/conn_states.h"

namespace matchlock::net {

std::optional<ConnPhase> next(ConnPhase from, ConnEvent event) {
  switch (event) {
    case ConnEvent::kFinish:
      return ConnPhase::kDone;
    case ConnEvent::kAccept:
      if (from == ConnPhase::kSynHeld) return ConnPhase::kSynDelivered;
      return std::nullopt;
    case ConnEvent::kAttach:
      if (from == ConnPhase::kSynDelivered) return ConnPhase::kEstablished;
      return std::nullopt;
  }
  return std::nullopt;
}

GuestHalf next(GuestHalf from, GuestHalfEvent event) {
  bool fin = event == GuestHalfEvent::kGuestFin;
  switch (from) {
    case GuestHalf::kOpen:
      return fin ? GuestHalf::kFinReceived : GuestHalf::kDelivered;
    case GuestHalf::kFinReceived:
      return fin ? GuestHalf::kFinReceived : GuestHalf::kClosed;
    case GuestHalf::kDelivered:
      return fin ? GuestHalf::kClosed : GuestHalf::kDelivered;
    case GuestHalf::kClosed:
      return GuestHalf::kClosed;
  }
  return from;
}

std::optional<HostHalf> next(HostHalf from, HostHalfEvent event) {
  if (event == HostHalfEvent::kEnd) return from == HostHalf::kOpen ? HostHalf::kEnding : from;
  if (from == HostHalf::kEnding) return HostHalf::kFinSent;
  return std::nullopt;  // a FIN before the end, or a second FIN
}

std::optional<UpstreamPhase> next(UpstreamPhase from, UpstreamEvent event) {
  if (event == UpstreamEvent::kClose) return UpstreamPhase::kClosed;
  if (from == UpstreamPhase::kConnecting) return UpstreamPhase::kOpen;
  return std::nullopt;
}

std::optional<UpstreamSend> next(UpstreamSend from, UpstreamSendEvent event) {
  switch (event) {
    case UpstreamSendEvent::kWant:
      return from == UpstreamSend::kOpen ? UpstreamSend::kShutdownWanted : from;
    case UpstreamSendEvent::kIssue:
      if (from == UpstreamSend::kOpen || from == UpstreamSend::kShutdownWanted)
        return UpstreamSend::kShuttingDown;
      return std::nullopt;
    case UpstreamSendEvent::kDone:
      if (from == UpstreamSend::kShuttingDown) return UpstreamSend::kShutDown;
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace matchlock::net
