// The user's --secret specs: a secret the agent may use but never see.
//
// Threat model. The guest (the agent and everything it runs) is hostile and must never learn a
// secret's value. It only ever holds a placeholder, `SANDBOX_SECRET_<32 lowercase hex>`, fresh
// from the kernel CSPRNG for every sandbox, so a placeholder seen in one sandbox (or in a log)
// says nothing about the value nor about another sandbox's placeholder. The engine swaps the
// value in only on requests bound for the secret's hosts (net/policy/plugins/secret_injector.h).
// On the host side the value must not leak either: errors from this file name the flag and the
// secret but never contain the value (nor any part of a spec that may hold it), and everything
// that leaves the process for logs, `inspect` or the state database uses RedactedSecret.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::sandbox {

// "SANDBOX_SECRET_" + 32 lowercase hex digits.
inline constexpr std::string_view kSecretPlaceholderPrefix = "SANDBOX_SECRET_";
inline constexpr size_t kSecretPlaceholderHexDigits = 32;

// What may be shown of a secret: its name and the hosts it is bound to, never the value.
struct RedactedSecret {
  std::string name;
  std::vector<std::string> hosts;
};

struct Secret {
  std::string name;                // the guest env var that holds the placeholder
  std::string value;               // the real value; stays in the engine's memory
  std::vector<std::string> hosts;  // host patterns (sandbox::validate_allowed_host), >= 1
  std::string placeholder;         // what the guest sees instead of the value

  RedactedSecret redacted() const { return {name, hosts}; }
};

// Looks a variable up in the host environment; nullopt when unset. Passed in so that callers
// (and tests) decide which environment a `NAME@HOSTS` spec reads.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The real process environment (getenv).
EnvLookup process_environment();

// Parses one --secret value:
//   NAME=VALUE@HOST[,HOST...]   the value is given inline (it may contain '@': the host list
//                               follows the last '@', since no host pattern contains one)
//   NAME@HOST[,HOST...]         the value is the host environment's NAME (unset or empty is an
//                               error naming the variable)
// NAME is an env var name ([A-Za-z_][A-Za-z0-9_]*). At least one host is required ("*" binds
// every host, explicitly). A value holding CR, LF or NUL is refused: written into a header it
// could forge further header fields or a second request.
// Errors are kInvalidArgument, start with "--secret", and never quote the value; with an
// inline value a bad host is identified by its position, not echoed, since a mistyped spec may
// have put part of the value after the '@'. A fresh placeholder is drawn for the secret;
// failing to read the CSPRNG is a kIo error.
Result<Secret> parse_secret_spec(std::string_view spec, const EnvLookup& lookup_env);

// Every --secret of one sandbox: each parsed as above, and no NAME given twice.
Result<std::vector<Secret>> parse_secret_specs(const std::vector<std::string>& specs,
                                               const EnvLookup& lookup_env);

// A secret's NAME: an env var name, [A-Za-z_][A-Za-z0-9_]*, at most 128 characters.
bool is_secret_name(std::string_view name);

// Overwrites and drops the value once it was handed to the interception plugins, so that the
// sandbox's own copy of its options (kept for its whole life) no longer holds it.
void forget_value(Secret& secret);

// Removes from this process's environment every variable whose value holds one of the
// secrets' values (the NAME of a `NAME@HOSTS` spec, or an SDK user's exported key that the
// rpc engine inherited), so that no child process — image tools, plugin processes, QEMU —
// inherits a value. The process's own initial environment block (/proc/self/environ) is the
// user's and cannot be rewritten; children get the scrubbed one. Call before any child is
// started and while no other thread reads the environment.
void remove_secret_values_from_environment(const std::vector<Secret>& secrets);

// A fresh `SANDBOX_SECRET_<32 hex>` from getrandom(2).
Result<std::string> make_secret_placeholder();

// True for text of exactly the placeholder form.
bool is_secret_placeholder(std::string_view text);

}  // namespace matchlock::sandbox
