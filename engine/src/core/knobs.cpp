#include "core/knobs.h"

#include <cstdlib>

namespace matchlock::knobs {

std::optional<std::string> get(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

std::optional<uint64_t> milliseconds(const char* name) {
  auto v = get(name);
  if (!v) return std::nullopt;
  char* end = nullptr;
  unsigned long long n = std::strtoull(v->c_str(), &end, 10);
  if (!end || *end != 0 || n == 0) return std::nullopt;
  return n;
}

}  // namespace matchlock::knobs
