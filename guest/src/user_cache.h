// The users exec requests name, resolved from /etc/passwd and /etc/group once and kept while
// both files keep their identity (core/file_identity.h: the same file, size and modification
// time). On a restored guest under TCG every kernel path runs for the first time again, and
// reading and parsing both files cost the first exec 30-40 ms; a stat of each costs a fraction
// of that. The agent resolves the default user before the save, so a restored guest's first
// exec finds it.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "core/result.h"
#include "user_lookup.h"

namespace matchlock::guest_agent {

class UserCache {
 public:
  explicit UserCache(std::string passwd_path = "/etc/passwd",
                     std::string group_path = "/etc/group");

  // resolve_user(spec, passwd, group), from the cache when neither file changed. Failures are
  // not kept: the next request reads the files again.
  Result<ResolvedUser> resolve(const std::string& spec);
  // How many times the files were read (each time both).
  size_t reads() const { return reads_; }

 private:
  // Both files' identities, "" for a missing one.
  std::string identities() const;

  static constexpr size_t kMaxUsers = 64;  // specs come from the host; keep the map small
  std::string passwd_path_, group_path_;
  std::optional<std::string> identities_;  // of the files users_ was resolved from
  size_t reads_ = 0;
  std::map<std::string, ResolvedUser> users_;
};

}  // namespace matchlock::guest_agent
