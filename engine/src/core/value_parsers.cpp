#include "core/value_parsers.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include "core/text_lines.h"

namespace matchlock {
namespace {

std::string quoted(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

// "invalid --cpus \"abc\": <reason>"
Error invalid_value(std::string_view what, std::string_view s, std::string_view reason) {
  return invalid_argument("invalid " + std::string(what) + " " + quoted(s) + ": " +
                          std::string(reason));
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_alnum(char c) {
  return is_alpha(c) || is_digit(c);
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

constexpr std::string_view kSpaces = " \t\r\n\v\f";

std::string_view trim_left(std::string_view s) {
  const size_t start = s.find_first_not_of(kSpaces);
  return start == std::string_view::npos ? std::string_view() : s.substr(start);
}

std::string_view trim(std::string_view s) {
  s = trim_left(s);
  const size_t end = s.find_last_not_of(kSpaces);
  return end == std::string_view::npos ? std::string_view() : s.substr(0, end + 1);
}

enum class UintParse { kOk, kInvalid, kOverflow };

// Parses a leading run of decimal digits (at least one); `rest` gets what follows.
UintParse parse_leading_uint(std::string_view s, uint64_t& value, std::string_view& rest) {
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec == std::errc::result_out_of_range) return UintParse::kOverflow;
  if (ec != std::errc()) return UintParse::kInvalid;
  rest = s.substr(static_cast<size_t>(ptr - s.data()));
  return UintParse::kOk;
}

bool checked_mul_add(uint64_t& acc, uint64_t n, uint64_t mul) {
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  if (n > kMax / mul) return false;
  if (acc > kMax - n * mul) return false;
  acc += n * mul;
  return true;
}

bool is_env_name(std::string_view key) {
  if (key.empty() || !(is_alpha(key[0]) || key[0] == '_')) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return is_alnum(c) || c == '_'; });
}

Error invalid_env(std::string_view key, std::string_view reason) {
  return invalid_argument("invalid environment variable " + quoted(key) + ": " +
                          std::string(reason));
}

bool is_user_part(std::string_view part) {
  if (part.empty() || part[0] == '-') return false;
  return std::all_of(part.begin(), part.end(),
                     [](char c) { return is_alnum(c) || c == '_' || c == '.' || c == '-'; });
}

// (uid_t)-1 means "no change" to the kernel, so the largest usable id is one below it.
constexpr uint64_t kMaxId = 4294967294ULL;

bool numeric_id_in_range(std::string_view part) {
  if (part.empty() || !std::all_of(part.begin(), part.end(), is_digit)) return true;  // a name
  uint64_t id = 0;
  std::string_view rest;
  return parse_leading_uint(part, id, rest) == UintParse::kOk && id <= kMaxId;
}

}  // namespace

std::optional<std::string> host_env_lookup(const std::string& key) {
  const char* v = std::getenv(key.c_str());
  if (!v) return std::nullopt;
  return std::string(v);
}

Result<double> parse_cpus(std::string_view s, std::string_view what, int host_cpus) {
  double value = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || ptr != s.data() + s.size() || !std::isfinite(value) ||
      value <= 0) {
    return invalid_value(what, s, "expected a positive number");
  }
  if (host_cpus > 0 && value > host_cpus) {
    return invalid_argument(std::string(what) + " " + std::string(s) + " exceeds the " +
                            std::to_string(host_cpus) + " host CPU" + (host_cpus == 1 ? "" : "s"));
  }
  return value;
}

Result<uint64_t> parse_size_mib(std::string_view s, std::string_view what, uint64_t min_mib,
                                uint64_t max_mib) {
  constexpr std::string_view kExpected =
      "expected a positive size in MiB, or with an M or G suffix (e.g. 512, 512M, 2G)";
  uint64_t n = 0;
  std::string_view suffix;
  switch (parse_leading_uint(s, n, suffix)) {
    case UintParse::kOverflow:
      return invalid_value(what, s, "size is too large");
    case UintParse::kInvalid:
      return invalid_value(what, s, kExpected);
    case UintParse::kOk:
      break;
  }
  const std::string unit = lower(suffix);
  uint64_t multiplier = 0;
  if (unit.empty() || unit == "m" || unit == "mb" || unit == "mib") {
    multiplier = 1;
  } else if (unit == "g" || unit == "gb" || unit == "gib") {
    multiplier = 1024;
  } else {
    return invalid_value(what, s, kExpected);
  }
  if (n == 0) return invalid_value(what, s, kExpected);
  uint64_t mib = 0;
  if (!checked_mul_add(mib, n, multiplier)) return invalid_value(what, s, "size is too large");
  if (mib < min_mib || mib > max_mib) {
    return invalid_value(what, s,
                         "must be between " + std::to_string(min_mib) + " MiB and " +
                             std::to_string(max_mib) + " MiB");
  }
  return mib;
}

Result<uint64_t> parse_duration_seconds(std::string_view s, std::string_view what) {
  constexpr std::string_view kExpected = "expected seconds or a duration like 30s, 5m or 1h30m";
  if (!s.empty() && s[0] == '-') return invalid_value(what, s, "must not be negative");
  if (s.empty()) return invalid_value(what, s, kExpected);

  uint64_t total = 0;
  std::string_view rest = s;
  int last_rank = 3;  // units must appear once each, largest first: h (2), m (1), s (0)
  bool first = true;
  while (!rest.empty()) {
    uint64_t n = 0;
    std::string_view after;
    const UintParse parsed = parse_leading_uint(rest, n, after);
    if (parsed == UintParse::kOverflow) return invalid_value(what, s, "duration is too long");
    if (parsed == UintParse::kInvalid) return invalid_value(what, s, kExpected);
    if (after.empty()) {
      if (!first) return invalid_value(what, s, kExpected);  // "1h30": unit missing
      return n;                                              // plain seconds
    }
    int rank = -1;
    uint64_t unit = 0;
    switch (after[0]) {
      case 'h':
        rank = 2, unit = 3600;
        break;
      case 'm':
        rank = 1, unit = 60;
        break;
      case 's':
        rank = 0, unit = 1;
        break;
      default:
        return invalid_value(what, s, kExpected);
    }
    if (rank >= last_rank) return invalid_value(what, s, kExpected);
    last_rank = rank;
    if (!checked_mul_add(total, n, unit)) return invalid_value(what, s, "duration is too long");
    rest = after.substr(1);
    first = false;
  }
  return total;
}

Result<EnvVar> parse_env_assignment(std::string_view s, const EnvLookup& host_lookup) {
  const size_t eq = s.find('=');
  const std::string key(s.substr(0, eq));
  if (key.empty()) return invalid_env(key, "name is empty");
  if (!is_env_name(key)) {
    return invalid_env(key,
                       "name must start with a letter or '_' and contain only letters, digits "
                       "and '_'");
  }
  if (eq != std::string_view::npos) {
    const std::string_view value = s.substr(eq + 1);
    if (value.find('\0') != std::string_view::npos) {
      return invalid_env(key, "value contains a NUL byte");
    }
    return EnvVar(key, std::string(value));
  }
  std::optional<std::string> host_value = host_lookup ? host_lookup(key) : std::nullopt;
  if (!host_value) return invalid_env(key, "not set on the host");
  return EnvVar(key, std::move(*host_value));
}

void upsert_env(std::vector<EnvVar>& env, EnvVar var) {
  auto it =
      std::find_if(env.begin(), env.end(), [&](const EnvVar& e) { return e.first == var.first; });
  if (it != env.end()) {
    it->second = std::move(var.second);
  } else {
    env.push_back(std::move(var));
  }
}

Result<std::vector<EnvVar>> parse_env_file(std::string_view contents, std::string_view path,
                                           const EnvLookup& host_lookup) {
  std::vector<EnvVar> env;
  TextLines lines(contents);
  for (std::string_view line; lines.next(line);) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files
    line = trim_left(line);
    if (line.empty() || line[0] == '#') continue;
    // A bare KEY is trimmed on both sides; an assignment keeps its value verbatim.
    if (line.find('=') == std::string_view::npos) line = trim(line);

    auto var = parse_env_assignment(line, host_lookup);
    if (!var.ok()) {
      return var.error().with_context("--env-file " + std::string(path) + ":" +
                                      std::to_string(lines.number()));
    }
    upsert_env(env, std::move(var).value());
  }
  return env;
}

Status validate_user_spec(std::string_view s) {
  const auto bad = [&] {
    return invalid_value("--user", s, "expected name, uid, uid:gid or name:group");
  };
  const size_t colon = s.find(':');
  const std::string_view user = s.substr(0, colon);
  const std::string_view group =
      colon == std::string_view::npos ? std::string_view() : s.substr(colon + 1);
  if (!is_user_part(user)) return bad();
  if (colon != std::string_view::npos && !is_user_part(group)) return bad();  // also ':' twice
  if (!numeric_id_in_range(user) || !numeric_id_in_range(group)) {
    return invalid_value("--user", s, "id out of range (at most " + std::to_string(kMaxId) + ")");
  }
  return {};
}

Status validate_hostname(std::string_view s) {
  constexpr std::string_view kWhat = "--hostname";
  if (s.empty()) return invalid_value(kWhat, s, "must not be empty");
  if (s.size() > 253) return invalid_value(kWhat, s, "longer than 253 characters");
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find('.', pos);
    if (end == std::string_view::npos) end = s.size();
    const std::string_view label = s.substr(pos, end - pos);
    if (label.empty()) return invalid_value(kWhat, s, "empty label");
    if (label.size() > 63) return invalid_value(kWhat, s, "label longer than 63 characters");
    const bool chars_ok =
        std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
    if (!chars_ok || label.front() == '-' || label.back() == '-') {
      return invalid_value(kWhat, s,
                           "labels may contain only letters, digits and '-', and may not start "
                           "or end with '-'");
    }
    pos = end + 1;
  }
  return {};
}

Status validate_absolute_guest_path(std::string_view s, std::string_view what) {
  constexpr size_t kPathMax = 4096;
  // Do not echo NUL bytes or huge values into a one-line message.
  if (s.find('\0') != std::string_view::npos) {
    return invalid_argument("invalid " + std::string(what) + ": path contains a NUL byte");
  }
  if (s.size() > kPathMax) {
    return invalid_argument("invalid " + std::string(what) + ": path is longer than " +
                            std::to_string(kPathMax) + " bytes");
  }
  if (s.empty() || s[0] != '/') return invalid_value(what, s, "must be an absolute path");
  return {};
}

}  // namespace matchlock
