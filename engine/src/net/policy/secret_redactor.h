// Turns secret values back into their placeholders in text that is about to leave the engine
// for a remote plugin (an SDK callback socket, an external plugin process). Remote plugins run
// after the built-in request transforms, secret_injector included (remote_plugin.h), so the
// request they are shown may already carry real values; they must never see one.
//
// Both spellings the injector writes are recognised: the raw value (header values) and its
// percent-encoded form (request targets).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "net/policy/plugins/secret_injector.h"

namespace matchlock::net::policy {

class SecretRedactor {
 public:
  SecretRedactor() = default;
  explicit SecretRedactor(const std::vector<InjectedSecret>& secrets);

  // `text` with every occurrence of a secret value replaced by that secret's placeholder.
  std::string redact(std::string_view text) const;
  bool empty() const { return pairs_.empty(); }

 private:
  struct Pair {
    std::string value;
    std::string placeholder;
  };
  std::vector<Pair> pairs_;  // longest value first, so a value containing another wins
};

}  // namespace matchlock::net::policy
