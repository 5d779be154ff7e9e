// The users exec requests name, resolved from /etc/passwd and /etc/group once and kept while
// both files stay as they were (the same file, size, modification and change time). On a
// restored guest under TCG every kernel path runs for the first time again, and reading and
// parsing both files cost the first exec 30-40 ms; a stat of each costs a fraction of that. The
// agent resolves the default user before the save, so a restored guest's first exec finds it.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <map>
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
  // What identifies a file's contents without reading them; a missing file is all zeros.
  struct Stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = 0;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const Stamp& other) const;
  };
  static Stamp stamp_of(const std::string& path);

  static constexpr size_t kMaxUsers = 64;  // specs come from the host; keep the map small
  std::string passwd_path_, group_path_;
  Stamp passwd_{}, group_{};
  size_t reads_ = 0;
  bool stamped_ = false;
  std::map<std::string, ResolvedUser> users_;
};

}  // namespace matchlock::guest_agent
