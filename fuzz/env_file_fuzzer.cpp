// User-supplied values (engine/src/core/value_parsers.cpp): --env-file contents, and the flag
// values of run/create (env assignments, sizes, durations, cpus, user, hostname, guest paths).
// Every parser gets the whole input.
// Invariants: an env file yields unique, non-empty keys without '=' and no NUL; a parsed size
// is within the bounds asked for; accepted hostnames are at most 253 characters.
#include <set>
#include <string>

#include "core/value_parsers.h"
#include "fuzz_check.h"

namespace {

std::optional<std::string> fake_host_env(const std::string& key) {
  if (key == "HOME") return std::string("/home/user");
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text = matchlock::fuzz::as_text(data, size);

  auto env = matchlock::parse_env_file(text, "fuzz.env", fake_host_env);
  if (env.ok()) {
    std::set<std::string> keys;
    for (const auto& [key, value] : *env) {
      FUZZ_CHECK(!key.empty() && key.find('=') == std::string::npos);
      FUZZ_CHECK(keys.insert(key).second);
      FUZZ_CHECK(key.find('\0') == std::string::npos && value.find('\0') == std::string::npos);
    }
  }

  auto assignment = matchlock::parse_env_assignment(text, fake_host_env);
  if (assignment.ok()) FUZZ_CHECK(!assignment->first.empty());

  auto mib = matchlock::parse_size_mib(text, "--memory", 64, 1 << 20);
  if (mib.ok()) FUZZ_CHECK(*mib >= 64 && *mib <= (1 << 20));
  (void)matchlock::parse_duration_seconds(text, "--timeout");
  auto cpus = matchlock::parse_cpus(text, "--cpus", 2);
  if (cpus.ok()) FUZZ_CHECK(*cpus > 0 && *cpus <= 2);
  (void)matchlock::validate_user_spec(text);
  if (matchlock::validate_hostname(text).ok()) FUZZ_CHECK(size <= 253);
  if (matchlock::validate_absolute_guest_path(text, "-w").ok()) {
    FUZZ_CHECK(!text.empty() && text[0] == '/' && size <= 4096);
  }
  return 0;
}
