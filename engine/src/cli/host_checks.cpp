#include "cli/host_checks.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <vector>

namespace matchlock::cli {
namespace {

constexpr const char* kKvmDevice = "/dev/kvm";

bool user_in_group(const HostUser& user, gid_t group) {
  if (user.gid == group) return true;
  int count = 64;
  std::vector<gid_t> groups(static_cast<size_t>(count));
  if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) {
    groups.resize(static_cast<size_t>(count));
    if (::getgrouplist(user.name.c_str(), user.gid, groups.data(), &count) < 0) return false;
  }
  groups.resize(static_cast<size_t>(count));
  for (gid_t g : groups) {
    if (g == group) return true;
  }
  return false;
}

}  // namespace

HostUser invoking_user() {
  HostUser u;
  const char* sudo_user = ::geteuid() == 0 ? std::getenv("SUDO_USER") : nullptr;
  const passwd* pw = sudo_user && *sudo_user ? ::getpwnam(sudo_user) : ::getpwuid(::geteuid());
  if (pw) {
    u.name = pw->pw_name;
    u.uid = pw->pw_uid;
    u.gid = pw->pw_gid;
  } else {
    u.name = std::to_string(::geteuid());
    u.uid = ::geteuid();
    u.gid = ::getegid();
  }
  return u;
}

KvmAccess kvm_access_for(const HostUser& user) {
  KvmAccess a;
  struct stat st {};
  if (::stat(kKvmDevice, &st) != 0) return a;
  a.exists = true;
  if (const group* g = ::getgrgid(st.st_gid)) a.group = g->gr_name;
  a.group_has_rw = (st.st_mode & 060) == 060;
  const bool other_rw = (st.st_mode & 06) == 06;
  const bool owner_rw = st.st_uid == user.uid && (st.st_mode & 0600) == 0600;
  const bool group_rw = a.group_has_rw && user_in_group(user, st.st_gid);
  a.usable = user.uid == 0 || owner_rw || group_rw || other_rw;
  return a;
}

}  // namespace matchlock::cli
