#include "net/policy/secret_redactor.h"

#include <algorithm>

namespace matchlock::net::policy {

SecretRedactor::SecretRedactor(const std::vector<InjectedSecret>& secrets) {
  for (const InjectedSecret& secret : secrets) {
    if (secret.value.empty()) continue;
    pairs_.push_back({secret.value, secret.placeholder});
    std::string encoded = encode_secret_for_target(secret.value);
    if (encoded != secret.value) pairs_.push_back({std::move(encoded), secret.placeholder});
  }
  std::stable_sort(pairs_.begin(), pairs_.end(),
                   [](const Pair& a, const Pair& b) { return a.value.size() > b.value.size(); });
}

std::string SecretRedactor::redact(std::string_view text) const {
  // One left-to-right pass taking, at each step, the earliest (then longest) value.
  std::string out;
  size_t pos = 0;
  while (true) {
    size_t best = std::string_view::npos;
    const Pair* found = nullptr;
    for (const Pair& pair : pairs_) {
      size_t at = text.find(pair.value, pos);
      if (at < best) best = at, found = &pair;
    }
    if (found == nullptr) break;
    out.append(text.substr(pos, best - pos));
    out += found->placeholder;
    pos = best + found->value.size();
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace matchlock::net::policy
