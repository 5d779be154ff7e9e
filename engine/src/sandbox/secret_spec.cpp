#include "sandbox/secret_spec.h"

#include <unistd.h>

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

#include "sandbox/network_policy.h"

namespace matchlock::sandbox {
namespace {

constexpr size_t kMaxNameLength = 128;

bool is_env_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name[0])) return false;
  for (char c : name) {
    if (!alpha(c) && !(c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

// `echo_hosts` is false when the spec carried an inline value: then a "host" may really be the
// tail of a value whose author forgot the '@HOSTS' part, so it is named by position only.
Result<std::vector<std::string>> parse_hosts(std::string_view list, const std::string& name,
                                             bool echo_hosts) {
  std::vector<std::string> hosts;
  std::vector<std::string_view> parts = split_commas(list);
  for (size_t i = 0; i < parts.size(); ++i) {
    std::string where = "--secret " + name + ": host " + std::to_string(i + 1);
    if (parts[i].empty()) return invalid_argument(where + " is empty");
    std::string host(parts[i]);
    Status valid = validate_allowed_host(host);
    if (!valid.ok()) {
      if (echo_hosts) return valid.error().with_context("--secret " + name);
      return invalid_argument(where +
                              " is not a valid host pattern (a host name, *.domain or an IP "
                              "address; the host list follows the last '@')");
    }
    hosts.push_back(std::move(host));
  }
  return hosts;
}

}  // namespace

bool is_secret_name(std::string_view name) {
  return is_env_name(name);
}

void forget_value(Secret& secret) {
  // Through a volatile pointer: a plain fill of memory about to be dropped may be optimized away.
  volatile char* bytes = secret.value.data();
  for (size_t i = 0; i < secret.value.size(); ++i) bytes[i] = 0;
  secret.value.clear();
  secret.value.shrink_to_fit();
}

EnvLookup process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Result<std::string> make_secret_placeholder() {
  unsigned char bytes[kSecretPlaceholderHexDigits / 2];
  size_t filled = 0;
  while (filled < sizeof bytes) {
    ssize_t n = ::getrandom(bytes + filled, sizeof bytes - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Error(ErrorCode::kIo, std::string("getrandom: ") + std::strerror(errno));
    }
    filled += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string placeholder(kSecretPlaceholderPrefix);
  for (unsigned char b : bytes) {
    placeholder += kHex[b >> 4];
    placeholder += kHex[b & 0x0f];
  }
  return placeholder;
}

bool is_secret_placeholder(std::string_view text) {
  if (text.size() != kSecretPlaceholderPrefix.size() + kSecretPlaceholderHexDigits) return false;
  if (!text.starts_with(kSecretPlaceholderPrefix)) return false;
  for (char c : text.substr(kSecretPlaceholderPrefix.size())) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<Secret> parse_secret_spec(std::string_view spec, const EnvLookup& lookup_env) {
  // Split on the last '@' (hosts never contain one, values may), then on the first '=' (names
  // never contain one). No message below quotes `spec` or anything right of the '='.
  size_t at = spec.rfind('@');
  size_t eq = spec.find('=');
  bool inline_value = eq != std::string_view::npos && (at == std::string_view::npos || eq < at);
  std::string_view name = spec.substr(0, inline_value ? eq : at);
  if (!is_env_name(name)) {
    // Not echoed: a spec missing its "NAME=" would have the value (or part of it) here.
    if (name.empty()) return invalid_argument("--secret: the NAME before '=' or '@' is empty");
    if (!inline_value && at == std::string_view::npos) {
      return invalid_argument("--secret: expected NAME=VALUE@HOSTS or NAME@HOSTS");
    }
    return invalid_argument(
        "--secret: the NAME is not a valid environment variable name (letters, digits and '_', "
        "not starting with a digit, at most " +
        std::to_string(kMaxNameLength) + " characters)");
  }
  Secret secret;
  secret.name = std::string(name);
  if (at == std::string_view::npos) {
    return invalid_argument("--secret " + secret.name +
                            ": no hosts (expected NAME=VALUE@HOSTS or NAME@HOSTS; use @* to "
                            "bind every host)");
  }
  if (inline_value) {
    secret.value = std::string(spec.substr(eq + 1, at - eq - 1));
    if (secret.value.empty()) return invalid_argument("--secret " + secret.name + ": empty value");
  } else {
    std::optional<std::string> value = lookup_env ? lookup_env(name) : std::nullopt;
    if (!value) {
      return invalid_argument("--secret " + secret.name + ": environment variable " + secret.name +
                              " is not set");
    }
    if (value->empty()) {
      return invalid_argument("--secret " + secret.name + ": environment variable " + secret.name +
                              " is empty");
    }
    secret.value = std::move(*value);
  }
  // A line break in a header value would forge header fields (or a whole second request).
  if (secret.value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos) {
    return invalid_argument("--secret " + secret.name +
                            ": the value contains a line break or NUL character");
  }
  auto hosts = parse_hosts(spec.substr(at + 1), secret.name, !inline_value);
  if (!hosts.ok()) return hosts.error();
  secret.hosts = std::move(*hosts);
  auto placeholder = make_secret_placeholder();
  if (!placeholder.ok()) return placeholder.error().with_context("--secret " + secret.name);
  secret.placeholder = std::move(*placeholder);
  return secret;
}

Result<std::vector<Secret>> parse_secret_specs(const std::vector<std::string>& specs,
                                               const EnvLookup& lookup_env) {
  std::vector<Secret> secrets;
  std::set<std::string> names;
  for (const auto& spec : specs) {
    auto secret = parse_secret_spec(spec, lookup_env);
    if (!secret.ok()) return secret.error();
    if (!names.insert(secret->name).second) {
      return invalid_argument("--secret " + secret->name + " is given more than once");
    }
    secrets.push_back(std::move(*secret));
  }
  return secrets;
}

void remove_secret_values_from_environment(const std::vector<Secret>& secrets) {
  std::vector<std::string> names;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view value = text.substr(eq + 1);
    for (const Secret& secret : secrets) {
      if (!secret.value.empty() && value.find(secret.value) != std::string_view::npos) {
        names.emplace_back(text.substr(0, eq));
        break;
      }
    }
  }
  for (const std::string& name : names) ::unsetenv(name.c_str());
}

}  // namespace matchlock::sandbox
