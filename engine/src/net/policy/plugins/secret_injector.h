// secret_injector: swaps a secret's placeholder for its real value in requests that really go
// to one of the secret's hosts, and refuses requests that carry a placeholder anywhere else.
//
// Threat model. The guest holds only placeholders (sandbox/secret_spec.h) and controls every
// byte of its requests: method, target, headers, the SNI it sends and which address it dials.
// It wins if the engine ever writes a secret's value towards a host the secret is not bound to.
// So a request "goes to" host H only when every name the engine knows for its destination is
// H: the Host header (every Host header field, and the authority of an absolute-form target),
// the TLS SNI when the request came over TLS, and the DNS name whose answer gave the address
// the engine dials (an IP-literal Host counts when it is that address itself). One mismatch and
// the request is not going to a bound host, whatever each name says alone.
//   - A placeholder in the target (path and query) or a header value of a request that goes to
//     one of its secret's host patterns is replaced by the value (all occurrences, substrings
//     included, single pass: a value is never rescanned).
//   - A placeholder in the target or headers of any other request denies the whole request
//     (the proxy answers 403); nothing is substituted, not even secrets that would be allowed.
//     A placeholder in a header *name* always denies: no API takes a key there.
//   - Bodies are neither scanned nor changed: agents resend their history, placeholders
//     included, and a placeholder by itself reveals nothing.
// Events and Deny reasons name the secret, never its value. Responses are not scrubbed: a
// bound host echoing the value back is trusted with it already.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/result.h"
#include "net/policy/event_sink.h"
#include "net/policy/host_pattern.h"
#include "net/policy/plugin.h"

namespace matchlock::net::policy {

struct InjectedSecret {
  std::string name;
  std::string value;
  std::string placeholder;         // unique per secret, at least kMinPlaceholderLength long
  std::vector<std::string> hosts;  // host patterns (host_pattern.h), at least one
};

// How a value is spelled inside a request target: bytes a target may not hold raw are
// percent-encoded, the rest kept (SecretRedactor recognises this spelling too).
std::string encode_secret_for_target(std::string_view value);

class SecretInjector : public Plugin {
 public:
  static constexpr size_t kMinPlaceholderLength = 16;

  // kInvalidArgument for a bad host pattern, no hosts, a value holding CR, LF or NUL, a short or
  // duplicate placeholder, or one placeholder containing another. `sink` may be null and must
  // outlive the plugin.
  static Result<std::unique_ptr<SecretInjector>> create(std::vector<InjectedSecret> secrets,
                                                        EventSink* sink);

  std::string_view name() const override { return "secret_injector"; }
  TransformResult transform_request(Request& request) override;

 private:
  struct Binding {
    std::string name;
    std::string value;
    std::string target_value;  // value as written into a request target (percent-encoded)
    std::string placeholder;
    std::vector<HostPattern> hosts;
  };

  SecretInjector(std::vector<Binding> bindings, EventSink* sink)
      : bindings_(std::move(bindings)), sink_(sink) {}

  void emit(const Binding& secret, const Request& request, bool injected,
            const std::string& detail) const;
  std::string replace_placeholders(const std::string& text, bool in_target) const;

  std::vector<Binding> bindings_;
  EventSink* sink_;
};

}  // namespace matchlock::net::policy
