// Facts about the host that `setup linux` reports: who is asking, and who may open /dev/kvm.
// (The QEMU found is vm/qemu_install.h.)
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace matchlock::cli {

// Who `setup` checks for: the user who ran `sudo matchlock …` ($SUDO_USER), else ourselves.
struct HostUser {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};
HostUser invoking_user();

// Whether `user` may open /dev/kvm for read and write, judged by its mode, owner and group and
// the user's group list (which may be newer than the user's current login session).
struct KvmAccess {
  bool exists = false;
  bool usable = false;
  std::string group;  // the device's group name
  bool group_has_rw = false;
};
KvmAccess kvm_access_for(const HostUser& user);

}  // namespace matchlock::cli
