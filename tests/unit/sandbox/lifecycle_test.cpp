#include <catch2/catch.hpp>

#include "sandbox/lifecycle.h"

using matchlock::sandbox::can_move;
using matchlock::sandbox::is_shutting_down;
using matchlock::sandbox::Lifecycle;

namespace {
constexpr Lifecycle kAll[] = {Lifecycle::kBooting, Lifecycle::kRunning, Lifecycle::kCrashed,
                              Lifecycle::kClosing, Lifecycle::kClosed};
}

TEST_CASE("a booting sandbox either becomes running or, when boot fails, closed", "[sandbox]") {
  CHECK(can_move(Lifecycle::kBooting, Lifecycle::kRunning));
  CHECK(can_move(Lifecycle::kBooting, Lifecycle::kClosed));
  CHECK_FALSE(can_move(Lifecycle::kBooting, Lifecycle::kClosing));
  CHECK_FALSE(can_move(Lifecycle::kBooting, Lifecycle::kCrashed));
}

TEST_CASE("a running sandbox can be closed or crash", "[sandbox]") {
  CHECK(can_move(Lifecycle::kRunning, Lifecycle::kClosing));
  CHECK(can_move(Lifecycle::kRunning, Lifecycle::kCrashed));
  CHECK_FALSE(can_move(Lifecycle::kRunning, Lifecycle::kClosed));
}

TEST_CASE("a crashed sandbox can still be closed, and nothing else", "[sandbox]") {
  CHECK(can_move(Lifecycle::kCrashed, Lifecycle::kClosing));
  CHECK_FALSE(can_move(Lifecycle::kCrashed, Lifecycle::kRunning));
  CHECK_FALSE(can_move(Lifecycle::kCrashed, Lifecycle::kClosed));
}

TEST_CASE("a closing sandbox only ends closed, even if its VM exits or its channel drops meanwhile",
          "[sandbox]") {
  CHECK(can_move(Lifecycle::kClosing, Lifecycle::kClosed));
  CHECK_FALSE(can_move(Lifecycle::kClosing, Lifecycle::kCrashed));
  CHECK_FALSE(can_move(Lifecycle::kClosing, Lifecycle::kRunning));
}

TEST_CASE("closed sandbox cannot start closing again", "[sandbox]") {
  for (Lifecycle to : kAll) CHECK_FALSE(can_move(Lifecycle::kClosed, to));
}

TEST_CASE("no sandbox returns to booting or stays put through a move", "[sandbox]") {
  for (Lifecycle from : kAll) {
    CHECK_FALSE(can_move(from, Lifecycle::kBooting));
    CHECK_FALSE(can_move(from, from));
  }
}

TEST_CASE("only closing and closed sandboxes count as shutting down", "[sandbox]") {
  CHECK_FALSE(is_shutting_down(Lifecycle::kBooting));
  CHECK_FALSE(is_shutting_down(Lifecycle::kRunning));
  CHECK_FALSE(is_shutting_down(Lifecycle::kCrashed));
  CHECK(is_shutting_down(Lifecycle::kClosing));
  CHECK(is_shutting_down(Lifecycle::kClosed));
}
