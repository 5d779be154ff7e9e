#include "guest_client/guest_steps.h"

#include <cmath>
#include <cstdio>

#include "core/printable.h"

namespace matchlock::guest_client {
namespace {

constexpr size_t kMaxNameBytes = 48;
constexpr double kMaxStepMs = 86'400'000.0;

// One line of printable text: control characters (newlines and C1 controls too) become '?'.
std::string step_name(std::string_view text) {
  std::string name = abbreviated(text, kMaxNameBytes);
  for (size_t i = 0; i < name.size(); ++i) {
    if (starts_c1_control(name, i)) {
      name[i] = '?';
      name[++i] = '?';
    } else if (static_cast<unsigned char>(name[i]) < 0x20 || name[i] == 0x7f) {
      name[i] = '?';
    }
  }
  return name;
}

std::string milliseconds(double ms) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", ms);
  return text;
}

}  // namespace

std::string guest_steps_line(const rapidjson::Value& message, std::string_view what) {
  if (!message.IsObject()) return "";
  auto it = message.FindMember("steps");
  if (it == message.MemberEnd() || !it->value.IsArray() || it->value.Empty()) return "";
  std::string steps;
  double total = 0;
  size_t shown = 0;
  for (const auto& step : it->value.GetArray()) {
    if (shown == kMaxSteps) break;
    if (!step.IsObject()) continue;
    auto name = step.FindMember("step");
    auto ms = step.FindMember("ms");
    if (name == step.MemberEnd() || !name->value.IsString() || ms == step.MemberEnd() ||
        !ms->value.IsNumber())
      continue;
    const double value = ms->value.GetDouble();
    if (!std::isfinite(value) || value < 0 || value > kMaxStepMs) continue;
    std::string_view text(name->value.GetString(), name->value.GetStringLength());
    if (shown++ > 0) steps += ", ";
    steps += step_name(text) + " " + milliseconds(value);
    total += value;
  }
  if (shown == 0) return "";
  return std::string(what) + ": " + milliseconds(total) + " ms (" + steps + ")";
}

}  // namespace matchlock::guest_client
