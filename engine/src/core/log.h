// Diagnostics on stderr (never stdout: for `matchlock rpc` stdout is the protocol).
// MATCHLOCK_LOG=debug shows debug lines; the default shows warnings and errors.
#pragma once

#include <string>

namespace matchlock::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void write(Level level, const std::string& message);
inline void debug(const std::string& m) {
  write(Level::kDebug, m);
}
inline void info(const std::string& m) {
  write(Level::kInfo, m);
}
inline void warn(const std::string& m) {
  write(Level::kWarn, m);
}
inline void error(const std::string& m) {
  write(Level::kError, m);
}
bool enabled(Level level);

}  // namespace matchlock::log
