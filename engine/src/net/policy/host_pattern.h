// One --allow-host rule. Grammar (case-insensitive; one trailing dot ignored on pattern and
// host alike):
//   *                    every host (names and IP literals)
//   *.example.com        every subdomain at any depth, NOT example.com itself
//   api-*.example.com    '*' inside a label matches zero or more characters of that one label
//                        (never a dot); at most one '*' per label; "*" alone as a non-leftmost
//                        label matches exactly one label ("example.*" matches example.org)
//   api.example.com      exactly that name
//   10.0.0.1, ::1, [::1] exactly that address. Addresses are compared as bytes after mapping
//                        ::ffff:a.b.c.d to a.b.c.d, so a v4 pattern matches the mapped v6
//                        spelling of the same address and vice versa (same endpoint).
// Name patterns never match IP-literal hosts (only '*' and address patterns do), so
// "10.0.0.*" cannot be written: wildcards over addresses are rejected at parse time.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/ip_address.h"

namespace matchlock::net::policy {

class HostPattern {
 public:
  // Errors are kInvalidArgument: `invalid host pattern "<text>": <reason>`.
  static Result<HostPattern> parse(std::string_view text);

  // `host` is guest-controlled: a name (any case, optional trailing dot) or an IP literal
  // (bracketed or not). Never throws; garbage simply does not match.
  bool matches(std::string_view host) const;

  // Canonical spelling: lowercased, no trailing dot, addresses in inet_ntop form. Two patterns
  // with equal text are the same rule (the allow-list deduplicates on it).
  const std::string& text() const { return text_; }

 private:
  enum class Kind { kEverything, kAddress, kName };
  HostPattern() = default;
  bool matches_name(std::string_view normalized_host) const;

  Kind kind_ = Kind::kName;
  std::string text_;
  std::optional<IpAddress> address_;  // kAddress, canonical()
  bool any_subdomain_ = false;        // kName with a leading "*." label
  std::vector<std::string> labels_;   // kName, after the leading "*." if any
};

}  // namespace matchlock::net::policy
