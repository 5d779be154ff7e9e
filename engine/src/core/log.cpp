#include "core/log.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/knobs.h"

namespace matchlock::log {
namespace {

Level threshold() {
  static const Level level = [] {
    auto v = knobs::get(knobs::kLog);
    if (!v) return Level::kWarn;
    if (*v == "debug") return Level::kDebug;
    if (*v == "info") return Level::kInfo;
    if (*v == "error") return Level::kError;
    return Level::kWarn;
  }();
  return level;
}

const char* label(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "";
}

}  // namespace

bool enabled(Level level) {
  return level >= threshold();
}

void write(Level level, const std::string& message) {
  if (!enabled(level)) return;
  std::fprintf(stderr, "matchlock: %s: %s\n", label(level), message.c_str());
}

}  // namespace matchlock::log
