// The guest's account of how long its steps took: /init's until HELLO (HELLO's "steps") and
// applying a CONFIG (READY's), as one line each for `MATCHLOCK_LOG=debug`. The guest is not
// trusted: at most kMaxSteps steps, names cut short and made printable, durations outside
// [0, 1 day] dropped.
#pragma once

#include <rapidjson/document.h>

#include <string>
#include <string_view>

namespace matchlock::guest_client {

inline constexpr size_t kMaxSteps = 24;

// "<what>: 12.3 ms (entropy and clock 0.4, switch root 1.2, ...)", or "" when the message
// carries no steps.
std::string guest_steps_line(const rapidjson::Value& message, std::string_view what);

}  // namespace matchlock::guest_client
