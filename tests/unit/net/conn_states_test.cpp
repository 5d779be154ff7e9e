// The guest TCP connection's state tables (engine/src/net/tcp/conn_states.h): which transitions
// a connection may make, and that the ones it must never make are refused.
#include "net/tcp/conn_states.h"

#include <catch2/catch.hpp>

using namespace matchlock::net;

TEST_CASE("held_syn_is_accepted_once_then_attached", "[net][tcp_states]") {
  auto delivered = next(ConnPhase::kSynHeld, ConnEvent::kAccept);
  REQUIRE(delivered == ConnPhase::kSynDelivered);
  REQUIRE(next(*delivered, ConnEvent::kAttach) == ConnPhase::kEstablished);
}

TEST_CASE("connection_request_cannot_be_accepted_twice", "[net][tcp_states]") {
  REQUIRE_FALSE(next(ConnPhase::kSynDelivered, ConnEvent::kAccept));
  REQUIRE_FALSE(next(ConnPhase::kEstablished, ConnEvent::kAccept));
  REQUIRE_FALSE(next(ConnPhase::kDone, ConnEvent::kAccept));
}

TEST_CASE("pcb_is_attached_only_after_accept", "[net][tcp_states]") {
  REQUIRE_FALSE(next(ConnPhase::kSynHeld, ConnEvent::kAttach));
  REQUIRE_FALSE(next(ConnPhase::kEstablished, ConnEvent::kAttach));
  REQUIRE_FALSE(next(ConnPhase::kDone, ConnEvent::kAttach));
}

TEST_CASE("any_connection_phase_may_finish_and_done_stays_done", "[net][tcp_states]") {
  for (auto p :
       {ConnPhase::kSynHeld, ConnPhase::kSynDelivered, ConnPhase::kEstablished, ConnPhase::kDone})
    REQUIRE(next(p, ConnEvent::kFinish) == ConnPhase::kDone);
}

TEST_CASE("guest_half_closes_after_fin_and_delivery_in_either_order", "[net][tcp_states]") {
  auto fin_first = next(GuestHalf::kOpen, GuestHalfEvent::kGuestFin);
  REQUIRE(fin_first == GuestHalf::kFinReceived);
  REQUIRE(next(fin_first, GuestHalfEvent::kDelivered) == GuestHalf::kClosed);

  auto delivered_first = next(GuestHalf::kOpen, GuestHalfEvent::kDelivered);
  REQUIRE(delivered_first == GuestHalf::kDelivered);
  REQUIRE(next(delivered_first, GuestHalfEvent::kGuestFin) == GuestHalf::kClosed);
}

TEST_CASE("guest_half_tolerates_a_repeated_fin_or_delivery", "[net][tcp_states]") {
  // lwIP reports a FIN and later a graceful close; delivery may be reported from two paths.
  REQUIRE(next(GuestHalf::kFinReceived, GuestHalfEvent::kGuestFin) == GuestHalf::kFinReceived);
  REQUIRE(next(GuestHalf::kDelivered, GuestHalfEvent::kDelivered) == GuestHalf::kDelivered);
  REQUIRE(next(GuestHalf::kClosed, GuestHalfEvent::kGuestFin) == GuestHalf::kClosed);
  REQUIRE(next(GuestHalf::kClosed, GuestHalfEvent::kDelivered) == GuestHalf::kClosed);
}

TEST_CASE("host_half_sends_fin_only_after_the_end", "[net][tcp_states]") {
  REQUIRE_FALSE(next(HostHalf::kOpen, HostHalfEvent::kFinSent));
  auto ending = next(HostHalf::kOpen, HostHalfEvent::kEnd);
  REQUIRE(ending == HostHalf::kEnding);
  REQUIRE(next(*ending, HostHalfEvent::kFinSent) == HostHalf::kFinSent);
}

TEST_CASE("host_half_sends_one_fin_and_a_repeated_end_is_harmless", "[net][tcp_states]") {
  REQUIRE_FALSE(next(HostHalf::kFinSent, HostHalfEvent::kFinSent));
  REQUIRE(next(HostHalf::kEnding, HostHalfEvent::kEnd) == HostHalf::kEnding);
  REQUIRE(next(HostHalf::kFinSent, HostHalfEvent::kEnd) == HostHalf::kFinSent);
}

TEST_CASE("upstream_opens_only_while_connecting", "[net][tcp_states]") {
  REQUIRE(next(UpstreamPhase::kConnecting, UpstreamEvent::kConnected) == UpstreamPhase::kOpen);
  REQUIRE_FALSE(next(UpstreamPhase::kOpen, UpstreamEvent::kConnected));
}

TEST_CASE("upstream_connect_after_close_is_stale", "[net][tcp_states]") {
  REQUIRE_FALSE(next(UpstreamPhase::kClosed, UpstreamEvent::kConnected));
}

TEST_CASE("upstream_closes_from_any_phase", "[net][tcp_states]") {
  for (auto p : {UpstreamPhase::kConnecting, UpstreamPhase::kOpen, UpstreamPhase::kClosed})
    REQUIRE(next(p, UpstreamEvent::kClose) == UpstreamPhase::kClosed);
}

TEST_CASE("upstream_shutdown_wanted_while_connecting_is_issued_later", "[net][tcp_states]") {
  auto wanted = next(UpstreamSend::kOpen, UpstreamSendEvent::kWant);
  REQUIRE(wanted == UpstreamSend::kShutdownWanted);
  REQUIRE(next(*wanted, UpstreamSendEvent::kWant) == UpstreamSend::kShutdownWanted);
  auto issued = next(*wanted, UpstreamSendEvent::kIssue);
  REQUIRE(issued == UpstreamSend::kShuttingDown);
  REQUIRE(next(*issued, UpstreamSendEvent::kDone) == UpstreamSend::kShutDown);
}

TEST_CASE("upstream_shutdown_is_issued_at_most_once", "[net][tcp_states]") {
  REQUIRE_FALSE(next(UpstreamSend::kShuttingDown, UpstreamSendEvent::kIssue));
  REQUIRE_FALSE(next(UpstreamSend::kShutDown, UpstreamSendEvent::kIssue));
}

TEST_CASE("upstream_shutdown_completes_only_once_issued", "[net][tcp_states]") {
  REQUIRE_FALSE(next(UpstreamSend::kOpen, UpstreamSendEvent::kDone));
  REQUIRE_FALSE(next(UpstreamSend::kShutdownWanted, UpstreamSendEvent::kDone));
  REQUIRE_FALSE(next(UpstreamSend::kShutDown, UpstreamSendEvent::kDone));
}
