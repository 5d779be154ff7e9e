#include "user_cache.h"

#include <sys/stat.h>

#include <utility>

#include "fs_util.h"

namespace matchlock::guest_agent {
namespace {

bool same_time(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

bool UserCache::Stamp::operator==(const Stamp& other) const {
  return dev == other.dev && ino == other.ino && size == other.size &&
         same_time(mtime, other.mtime) && same_time(ctime, other.ctime);
}

UserCache::UserCache(std::string passwd_path, std::string group_path)
    : passwd_path_(std::move(passwd_path)), group_path_(std::move(group_path)) {}

UserCache::Stamp UserCache::stamp_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return {};
  return {st.st_dev, st.st_ino, st.st_size, st.st_mtim, st.st_ctim};
}

Result<ResolvedUser> UserCache::resolve(const std::string& spec) {
  const Stamp passwd = stamp_of(passwd_path_);
  const Stamp group = stamp_of(group_path_);
  if (!stamped_ || !(passwd == passwd_) || !(group == group_) || users_.size() >= kMaxUsers) {
    users_.clear();
    passwd_ = passwd;
    group_ = group;
    stamped_ = true;
  } else if (auto it = users_.find(spec); it != users_.end()) {
    return it->second;
  }
  // Stamped before reading: a change while reading shows up as a new stamp next time.
  ++reads_;
  auto user =
      resolve_user(spec, read_file(passwd_path_).value_or(""), read_file(group_path_).value_or(""));
  if (user.ok()) users_.emplace(spec, *user);
  return user;
}

}  // namespace matchlock::guest_agent
