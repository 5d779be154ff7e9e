// The rpc server's lifecycle rules (server_state.h), checked move by move.
#include <catch2/catch.hpp>

#include <vector>

#include "rpc/server_state.h"

using namespace matchlock::rpc;

namespace {

const std::vector<SandboxState> kSandboxStates = {SandboxState::kNone, SandboxState::kCreating,
                                                  SandboxState::kReady, SandboxState::kClosing,
                                                  SandboxState::kClosed};
const std::vector<SessionState> kSessionStates = {SessionState::kServing, SessionState::kDraining,
                                                  SessionState::kFlushing, SessionState::kFinished};

template <typename State>
int moves_out_of(State from, const std::vector<State>& all) {
  int n = 0;
  for (State to : all) n += can_move(from, to) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("sandbox_create_then_close_is_the_normal_life", "[rpc][server_state]") {
  CHECK(can_move(SandboxState::kNone, SandboxState::kCreating));
  CHECK(can_move(SandboxState::kCreating, SandboxState::kReady));
  CHECK(can_move(SandboxState::kReady, SandboxState::kClosing));
  CHECK(can_move(SandboxState::kClosing, SandboxState::kClosed));
}

TEST_CASE("sandbox_whose_create_failed_can_be_created_again", "[rpc][server_state]") {
  CHECK(can_move(SandboxState::kCreating, SandboxState::kNone));
  CHECK(can_move(SandboxState::kNone, SandboxState::kCreating));
}

TEST_CASE("sandbox_close_without_a_sandbox_still_passes_through_closing", "[rpc][server_state]") {
  CHECK(can_move(SandboxState::kNone, SandboxState::kClosing));
  CHECK_FALSE(can_move(SandboxState::kNone, SandboxState::kClosed));
}

TEST_CASE("sandbox_close_waits_for_a_create_in_flight", "[rpc][server_state]") {
  CHECK_FALSE(can_move(SandboxState::kCreating, SandboxState::kClosing));
  CHECK_FALSE(can_move(SandboxState::kCreating, SandboxState::kClosed));
}

TEST_CASE("sandbox_close_starts_only_once", "[rpc][server_state]") {
  CHECK_FALSE(can_move(SandboxState::kClosing, SandboxState::kClosing));
  CHECK_FALSE(can_move(SandboxState::kClosed, SandboxState::kClosing));
}

TEST_CASE("sandbox_ready_is_never_created_again", "[rpc][server_state]") {
  CHECK_FALSE(can_move(SandboxState::kReady, SandboxState::kCreating));
  CHECK_FALSE(can_move(SandboxState::kReady, SandboxState::kNone));
}

TEST_CASE("sandbox_closed_is_final", "[rpc][server_state]") {
  CHECK(moves_out_of(SandboxState::kClosed, kSandboxStates) == 0);
}

TEST_CASE("session_goes_serving_draining_flushing_finished_in_order", "[rpc][server_state]") {
  CHECK(can_move(SessionState::kServing, SessionState::kDraining));
  CHECK(can_move(SessionState::kDraining, SessionState::kFlushing));
  CHECK(can_move(SessionState::kFlushing, SessionState::kFinished));
  for (SessionState from : kSessionStates) CHECK(moves_out_of(from, kSessionStates) <= 1);
}

TEST_CASE("session_never_skips_draining_or_flushing", "[rpc][server_state]") {
  CHECK_FALSE(can_move(SessionState::kServing, SessionState::kFlushing));
  CHECK_FALSE(can_move(SessionState::kServing, SessionState::kFinished));
  CHECK_FALSE(can_move(SessionState::kDraining, SessionState::kFinished));
}

TEST_CASE("session_never_serves_again_once_draining", "[rpc][server_state]") {
  for (SessionState from : kSessionStates) CHECK_FALSE(can_move(from, SessionState::kServing));
}

TEST_CASE("session_finished_is_final", "[rpc][server_state]") {
  CHECK(moves_out_of(SessionState::kFinished, kSessionStates) == 0);
}

TEST_CASE("staying_in_a_state_is_not_a_move", "[rpc][server_state]") {
  for (SandboxState s : kSandboxStates) CHECK_FALSE(can_move(s, s));
  for (SessionState s : kSessionStates) CHECK_FALSE(can_move(s, s));
}

TEST_CASE("every_state_has_its_own_name_for_logs", "[rpc][server_state]") {
  CHECK(to_string(SandboxState::kCreating) == "creating");
  CHECK(to_string(SessionState::kDraining) == "draining");
  CHECK(to_string(SandboxState::kClosed) == "closed");
  CHECK(to_string(SessionState::kFinished) == "finished");
}
