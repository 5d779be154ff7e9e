// Parsing and validation of user-supplied flag values (run flags, rpc config fields).
// Every error is kInvalidArgument with a one-line message naming the flag or field (`what`).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"

namespace matchlock {

using EnvVar = std::pair<std::string, std::string>;
// Looks a variable up in the host environment; injected so tests need not touch the real one.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The real host environment (getenv).
std::optional<std::string> host_env_lookup(const std::string& key);

// A CPU count: finite, > 0, fractional allowed ("0.5"), at most host_cpus (no cap if <= 0).
Result<double> parse_cpus(std::string_view s, std::string_view what, int host_cpus);

// A size in MiB: "512" (MiB), suffixes m/M/MiB/MB (MiB) and g/G/GiB/GB (GiB, 1024 MiB); case
// of the suffix does not matter. Must be > 0 and within [min_mib, max_mib].
Result<uint64_t> parse_size_mib(std::string_view s, std::string_view what, uint64_t min_mib,
                                uint64_t max_mib);

// Seconds: "300", or h/m/s components in that order ("30s", "5m", "1h30m"). 0 means none.
Result<uint64_t> parse_duration_seconds(std::string_view s, std::string_view what);

// "KEY=VALUE" (VALUE may be empty or contain '='), or bare "KEY" copied from the host.
// Errors quote only the name, never the value (values may be secrets).
Result<EnvVar> parse_env_assignment(std::string_view s, const EnvLookup& host_lookup);

// An --env-file: one assignment per line; leading whitespace, blank lines and '#' comments
// are skipped; the value is kept verbatim after '=' (no quote processing, like docker); a bare
// KEY (trimmed) comes from the host. Later lines override earlier ones; the result has unique
// keys in first-seen order. Errors read "--env-file <path>:<line>: ...".
Result<std::vector<EnvVar>> parse_env_file(std::string_view contents, std::string_view path,
                                           const EnvLookup& host_lookup);

// Sets `var` in `env`: replaces the value of an existing key in place, else appends. This is
// the merge rule for env files then -e flags (later wins).
void upsert_env(std::vector<EnvVar>& env, EnvVar var);

// --user syntax only: name, uid, uid:gid or name:group (resolution happens in the guest).
Status validate_user_spec(std::string_view s);

// --hostname: RFC 1123 labels (letters, digits, '-', not at either end, 1-63 chars each),
// at most 253 characters in all.
Status validate_hostname(std::string_view s);

// A guest path such as -w: absolute, no NUL byte, at most 4096 bytes.
Status validate_absolute_guest_path(std::string_view s, std::string_view what);

}  // namespace matchlock
