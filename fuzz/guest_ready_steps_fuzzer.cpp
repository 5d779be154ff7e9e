// READY's (and HELLO's) "steps" from the guest agent (engine/src/guest_client/guest_steps.cpp),
// printed at MATCHLOCK_LOG=debug: the guest is not trusted. The input is the message's JSON.
// Invariants: the line is empty or starts "guest configuration: ", holds no control character
// (no newline, no escape sequence for the user's terminal, no C1 control in UTF-8), and is
// bounded whatever the message
// holds (at most kMaxSteps steps with names cut short).
#include <string>

#include "core/json.h"
#include "core/printable.h"
#include "fuzz_check.h"
#include "guest_client/guest_steps.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  matchlock::json::Document ready;
  ready.Parse(reinterpret_cast<const char*>(data), size);
  if (ready.HasParseError()) return 0;
  const std::string line = matchlock::guest_client::guest_steps_line(ready, "guest configuration");
  if (line.empty()) return 0;
  FUZZ_CHECK(line.starts_with("guest configuration: "));
  for (size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    FUZZ_CHECK(c >= 0x20 && c != 0x7f && !matchlock::starts_c1_control(line, i));
  }
  // Per step: a name of at most 48 bytes plus "... (N bytes)", a duration of at most one day.
  FUZZ_CHECK(line.size() <= 64 + matchlock::guest_client::kMaxSteps * 100);
  return 0;
}
