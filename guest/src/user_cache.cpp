#include "user_cache.h"

#include <utility>

#include "core/file_identity.h"
#include "fs_util.h"

namespace matchlock::guest_agent {

UserCache::UserCache(std::string passwd_path, std::string group_path)
    : passwd_path_(std::move(passwd_path)), group_path_(std::move(group_path)) {}

std::string UserCache::identities() const {
  auto passwd = file_identity(passwd_path_);
  auto group = file_identity(group_path_);
  return (passwd.ok() ? *passwd : "") + "\n" + (group.ok() ? *group : "");
}

Result<ResolvedUser> UserCache::resolve(const std::string& spec) {
  std::string now = identities();
  if (now != identities_ || users_.size() >= kMaxUsers) {
    users_.clear();
    identities_ = std::move(now);
  } else if (auto it = users_.find(spec); it != users_.end()) {
    return it->second;
  }
  // Identified before reading: a change while reading shows up as a new identity next time.
  ++reads_;
  auto user =
      resolve_user(spec, read_file(passwd_path_).value_or(""), read_file(group_path_).value_or(""));
  if (user.ok()) users_.emplace(spec, *user);
  return user;
}

}  // namespace matchlock::guest_agent
