// The guest's account of how long applying a CONFIG took, step by step (READY's "steps"), as
// one line for `MATCHLOCK_LOG=debug`. The guest is not trusted: at most kMaxSteps steps, names
// cut short and made printable, durations outside [0, 1 day] dropped.
#pragma once

#include <rapidjson/document.h>

#include <string>

namespace matchlock::guest_client {

inline constexpr size_t kMaxSteps = 24;

// "guest configuration: 12.3 ms (entropy and clock 0.4, switch root 1.2, ...)", or "" when
// READY carries no steps.
std::string guest_steps_line(const rapidjson::Value& ready);

}  // namespace matchlock::guest_client
