// WWW-Authenticate challenges from a registry (engine/src/image/registry/www_authenticate.cpp).
// Invariants: schemes and parameter names are non-empty and lowercase; the result is bounded by
// the header (no more challenges than bytes, no value longer than the header).
#include <cctype>
#include <string>

#include "fuzz_check.h"
#include "image/registry/www_authenticate.h"

namespace registry = matchlock::image::registry;

namespace {

bool lowercase(const std::string& s) {
  for (unsigned char c : s) {
    if (std::isupper(c)) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view header = matchlock::fuzz::as_text(data, size);
  auto challenges = registry::parse_www_authenticate(header);
  if (!challenges.ok()) return 0;
  FUZZ_CHECK(challenges->size() <= size);
  for (const auto& c : *challenges) {
    FUZZ_CHECK(!c.scheme.empty() && lowercase(c.scheme));
    for (const auto& [name, value] : c.params) {
      FUZZ_CHECK(!name.empty() && lowercase(name));
      FUZZ_CHECK(value.size() <= size);
    }
  }
  return 0;
}
