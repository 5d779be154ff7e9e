// Moves bytes between two HTTP/2 endpoints in memory until neither has anything to send.
#pragma once

#include <string>

#include "net/h2/h2_connection.h"

namespace matchlock::net::h2::testing {

// Returns false when a feed failed (the connection is broken).
inline bool pump(H2Connection& a, H2Connection& b, int max_rounds = 1000) {
  for (int round = 0; round < max_rounds; ++round) {
    std::string a_to_b = a.take_output();
    std::string b_to_a = b.take_output();
    if (a_to_b.empty() && b_to_a.empty()) return true;
    if (!a_to_b.empty() && !b.feed(a_to_b).ok()) return false;
    if (!b_to_a.empty() && !a.feed(b_to_a).ok()) return false;
  }
  return true;
}

}  // namespace matchlock::net::h2::testing
