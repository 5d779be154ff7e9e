// The ordered --allow-host list, mutable at runtime through the rpc methods allow_list_add /
// allow_list_delete (docs/rpc.md). Owned by the loop thread: no locking.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "net/policy/host_pattern.h"

namespace matchlock::net::policy {

// What an empty list means is the caller's decision, made once at construction: the original
// allowed everything when the list was empty (interception on only for secrets); a sandbox
// started with --allow-host may prefer that deleting every rule denies everything.
enum class EmptyListMeans { kAllowAll, kDenyAll };

struct AllowListAddResult {
  std::vector<std::string> added;          // newly inserted, canonical text, in input order
  std::vector<std::string> allowed_hosts;  // the whole list afterwards
};

struct AllowListDeleteResult {
  std::vector<std::string> removed;        // actually removed, deduplicated, in list order
  std::vector<std::string> allowed_hosts;  // the whole list afterwards
};

class AllowList {
 public:
  explicit AllowList(EmptyListMeans empty_means) : empty_means_(empty_means) {}

  // Trims each entry; validates all of them before changing anything (one bad pattern rejects
  // the whole call, naming that pattern); skips entries already present or repeated; appends
  // the rest in order. Entries that are empty after trimming are skipped.
  Result<AllowListAddResult> add(const std::vector<std::string>& hosts);

  // Trims each entry and removes the rules whose canonical text equals it (so "API.x.com." and
  // "api.x.com" name the same rule). Unknown entries are ignored; invalid ones too, since they
  // cannot be in the list.
  AllowListDeleteResult remove(const std::vector<std::string>& hosts);

  // True if any rule matches, or if the list is empty and empty means allow-all.
  bool allows(std::string_view host) const;
  // The first rule that matches (for event reasons), or nullptr.
  const HostPattern* first_match(std::string_view host) const;

  std::vector<std::string> hosts() const;
  bool empty() const { return patterns_.empty(); }
  EmptyListMeans empty_means() const { return empty_means_; }

 private:
  bool contains(std::string_view canonical) const;

  EmptyListMeans empty_means_;
  std::vector<HostPattern> patterns_;
};

}  // namespace matchlock::net::policy
